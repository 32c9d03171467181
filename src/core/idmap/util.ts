/**
 * Small helpers shared by the id-map modules: strict decimal parsing and the
 * wording of values in error messages. Internal to src/core/idmap.
 */

/** The highest valid id; 4294967295 is (uid_t)-1, the invalid id. */
export const MAX_ID_VALUE = 4294967294;

/** True for an integer id in [0, MAX_ID]. */
export function isId(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_ID_VALUE
  );
}

/** True for an integer count in [1, MAX_ID + 1]. */
export function isCount(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_ID_VALUE + 1
  );
}

const DECIMAL = /^[0-9]+$/;

/**
 * Parse an unsigned decimal written with digits only: no sign, no exponent,
 * no hex, no surrounding whitespace. Leading zeros are accepted (the kernel
 * and shadow-utils accept them). Returns undefined for anything else or for
 * a value above `max`.
 */
export function parseDecimal(text: string, max: number): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

/** Why `text` is not a decimal in [0, max], for an error message. */
export function decimalProblem(text: string, max: number, what: string): string {
  if (text === '') return `${what} is empty`;
  if (!DECIMAL.test(text)) return `${what} is not a number`;
  return `${what} ${text} is larger than ${max}`;
}

/** A value as it should appear in a message: numbers bare, the rest as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return value.toString();
  try {
    const json = JSON.stringify(value);
    return json.length > 60 ? `${json.slice(0, 57)}...` : json;
  } catch {
    return String(value);
  }
}

/** Why `value` is not an integer in [min, max] (or undefined if it is one). */
function integerProblem(value: unknown, min: number, max: number): string | undefined {
  if (typeof value !== 'number') return `${show(value)} is not a number`;
  if (Number.isNaN(value)) return 'NaN is not a number';
  if (!Number.isFinite(value)) return `${value} is not a finite number`;
  if (!Number.isInteger(value)) return `${value} is not an integer`;
  if (value < min) return min === 0 ? `${value} is negative` : `${value} is less than ${min}`;
  if (value > max) return `${value} is larger than ${max}`;
  return undefined;
}

/** Why `value` is not a valid id (or undefined if it is one). */
export function idProblem(value: unknown): string | undefined {
  return integerProblem(value, 0, MAX_ID_VALUE);
}

/** Why `value` is not a valid count (or undefined if it is one). */
export function countProblem(value: unknown): string | undefined {
  return integerProblem(value, 1, MAX_ID_VALUE + 1);
}

/** Split text into lines on "\n"; a final empty piece after a last "\n" is dropped. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
