import { describe, expect, it } from 'vitest';
import { brokerInfo } from './worker-info.js';

describe('brokerInfo', () => {
  it("shows kombu's Connection.info(): a Sentinel URL by its first sentinel, without the password", () => {
    expect(
      brokerInfo('sentinel://:pw@10.0.0.1:26380/2;sentinel://10.0.0.2?master_name=m', 'redis'),
    ).toMatchObject({
      hostname: '10.0.0.1',
      port: 26380,
      virtual_host: '2',
      ssl: false,
      transport: 'redis',
    });
    expect(brokerInfo('sentinels://h1;sentinels://h2', 'redis')).toMatchObject({
      hostname: 'h1',
      port: 26379,
      ssl: true,
    });
    expect(JSON.stringify(brokerInfo('redis://:pw@h:6379/0', 'redis'))).not.toContain('pw');
  });
});
