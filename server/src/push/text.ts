const segmenter = new Intl.Segmenter("en", { granularity: "grapheme" });

/**
 * Makes user text safe to show in a notification: lone surrogates become
 * U+FFFD, control characters become spaces, and bidirectional overrides
 * and isolates (which can make "gnp.exe" read as "exe.png") are removed.
 */
export function cleanText(text: string): string {
  return text
    .toWellFormed()
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, " ")
    .replace(/[\u202a-\u202e\u2066-\u2069]/g, "");
}

/**
 * Shortens text for a push. The text is cleaned (see cleanText) and
 * whitespace runs become one space. Text over `maxLength` graphemes or
 * 4 × `maxLength` UTF-16 units is cut at the last word boundary within the
 * limit, or mid-word when there is none, and ends with an ellipsis.
 * Cutting by grapheme never splits an emoji or a combined character. The
 * unit cap stops a grapheme stacked with hundreds of combining marks from
 * growing the push.
 */
export function shortenText(text: string, maxLength: number): string {
  const flat = cleanText(text).replace(/\s+/g, " ").trim();
  const maxUnits = maxLength * 4;
  if (flat.length <= maxLength) return flat;
  const graphemes = Array.from(segmenter.segment(flat), (part) => part.segment);
  if (graphemes.length <= maxLength && flat.length <= maxUnits) return flat;

  let kept = "";
  let count = 0;
  for (const grapheme of graphemes) {
    if (
      count >= maxLength - 1 ||
      kept.length + grapheme.length > maxUnits - 1
    ) {
      break;
    }
    kept += grapheme;
    count++;
  }
  // When the next grapheme is a space, the kept text already ends on a whole word.
  const endsOnWord = graphemes[count] === " ";
  const lastSpace = kept.lastIndexOf(" ");
  const cut =
    endsOnWord || lastSpace < kept.length / 2 ? kept : kept.slice(0, lastSpace);
  return `${cut.replace(/[\s.,;:!?-]+$/, "")}…`;
}

/** Joins names as "Anna", "Anna and Ben", "Anna, Ben and Cleo" or "Anna, Ben and 3 others". */
export function joinNames(names: string[], total = names.length): string {
  if (total <= 1) return names[0] ?? "Someone";
  if (total === 2 && names.length >= 2) return `${names[0]} and ${names[1]}`;
  if (total === 3 && names.length >= 3) {
    return `${names[0]}, ${names[1]} and ${names[2]}`;
  }
  const others = total - 2;
  return `${names[0]}, ${names[1] ?? "someone"} and ${others} others`;
}
