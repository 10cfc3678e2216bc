import { beforeAll, describe, it } from 'vitest';

describe('a suite whose beforeAll fails', () => {
  beforeAll(() => {
    throw new Error('beforeAll failed');
  });
  it('would pass', () => {});
  it('would pass too', () => {});
});
