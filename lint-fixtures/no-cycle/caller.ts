import { double } from './callee.js';

export function quadruple(n: number): number {
  return double(double(n));
}
