import fc from 'fast-check';

type Tie = (key: string) => fc.Arbitrary<unknown>;

/**
 * Values to hold a form up against `structuredClone`: plain data, what a clone keeps that JSON
 * does not (-0, NaN, Infinity, undefined) and what neither JSON nor a plain-data form takes
 * (dates, bigints), nested in arrays and objects. `moreNodes` adds containers of the caller's
 * (holes, null prototypes, maps), nested the same way.
 *
 * @example
 * fc.assert(fc.property(cloneableValue(), (v) => expect(readBack(v)).toStrictEqual(structuredClone(v))));
 */
export function cloneableValue({
  string = fc.string(),
  number = fc.double(),
  moreNodes = () => [],
}: {
  string?: fc.Arbitrary<string>;
  number?: fc.Arbitrary<number>;
  moreNodes?: (tie: Tie) => Array<fc.Arbitrary<unknown>>;
} = {}): fc.Arbitrary<unknown> {
  return fc.letrec((tie) => ({
    leaf: fc.oneof(
      string,
      fc.boolean(),
      fc.constant(null),
      number,
      fc.constantFrom(-0, undefined, Number.NaN, Infinity, 10n),
      fc.date({ noInvalidDate: true }),
    ),
    node: fc.oneof(
      { depthSize: 'small' },
      tie('leaf'),
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(string, tie('node'), { maxKeys: 4 }),
      ...moreNodes(tie),
    ),
  })).node;
}
