// msgpackr is only a devDependency of lint-fixtures/package.json: code outside tests may not use it.
import { pack } from 'msgpackr';

export const packed: Buffer = pack({ a: 1 });
