import { escapeLiteral } from 'pg';
import { inlineParameters, quoteLiteral } from './pipelined';

describe('inlineParameters', () => {
  it('writes each value as an escaped literal, numbers and booleans as SQL', () => {
    const sql = inlineParameters('INSERT INTO t (a, b, c, d, e, f) VALUES ($1, $2, $3, $4, $5, $6)', [
      "it's",
      42,
      true,
      null,
      { k: "v'" },
      'back\\slash',
    ]);
    expect(sql).toBe(
      `INSERT INTO t (a, b, c, d, e, f) VALUES ('it''s', 42, TRUE, NULL, '{"k":"v''"}',  E'back\\\\slash')`,
    );
  });

  it('tells $1 from $10 and refuses a placeholder without a value or a number SQL cannot hold', () => {
    const params = Array.from({ length: 10 }, (_, i) => i + 1);
    expect(inlineParameters('SELECT $1, $10', params)).toBe('SELECT 1, 10');
    expect(() => inlineParameters('SELECT $2', [1])).toThrow('no value for placeholder $2');
    expect(() => inlineParameters('SELECT $1', [NaN])).toThrow('cannot inline');
  });

  it('keeps a hostile string inside its literal', () => {
    const sql = inlineParameters('SELECT $1', ["x'); DROP TABLE t; --"]);
    expect(sql).toBe(`SELECT 'x''); DROP TABLE t; --'`);
  });
});

describe('quoteLiteral', () => {
  it('writes every string as the driver escapes it', () => {
    const samples = [
      '',
      'plain',
      "it's",
      'back\\slash',
      "\\'",
      "x'); DROP TABLE t; --",
      "E'x'",
      'üñï€😀\n\t',
    ];
    // And random strings over the characters that matter.
    const alphabet = ["'", '\\', 'a', ' ', '"', 'E', '$', '\n', 'é'];
    for (let i = 0; i < 500; i++) {
      const length = Math.floor(Math.random() * 12);
      samples.push(
        Array.from({ length }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join(''),
      );
    }
    for (const value of samples) expect(quoteLiteral(value)).toBe(escapeLiteral(value));
  });
});
