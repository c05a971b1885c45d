// The same import from a test file is fine: tests may use devDependencies.
import { pack } from 'msgpackr';

export const packed: Buffer = pack({ a: 1 });
