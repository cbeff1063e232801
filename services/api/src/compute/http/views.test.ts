import { createHash } from 'node:crypto';
import { hostId } from './views';

describe('hostId', () => {
  it("is Nova's sha224 of project and host, the same on every call, and per project", () => {
    const expected = createHash('sha224').update('p1node1').digest('hex');
    expect(hostId('p1', 'node1')).toBe(expected);
    expect(hostId('p1', 'node1')).toBe(expected); // from the kept copy
    expect(hostId('p2', 'node1')).toBe(createHash('sha224').update('p2node1').digest('hex'));
    expect(hostId('p1', null)).toBe('');
  });
});
