// Numbers as the page prints them: fractions as percentages, differences signed, ages in words.

export function signed(d, text) { return (d < 0 ? "−" : "+") + text; }

// A value: a fraction as "87.6 %", anything else to 3 significant digits (0.0001 stays 0.0001).
export function fmtValue(v, fraction) {
  if (v === null || v === undefined) return "–";
  return fraction ? `${(100 * v).toFixed(1)} %` : String(Number(v.toPrecision(3)));
}

// A difference from the reference: fractions in percentage points, anything else to 2 digits.
export function fmtDiff(d, fraction) {
  if (d === null || d === undefined) return "";
  return fraction ? signed(d, `${Math.abs(100 * d).toFixed(1)} pts`) : signed(d, String(Number(Math.abs(d).toPrecision(2))));
}

export function heartbeatAge(seconds) {
  return seconds < 1.5 ? "just now" : `${Math.round(seconds)} s ago`;
}
