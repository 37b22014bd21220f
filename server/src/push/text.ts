const segmenter = new Intl.Segmenter("en", { granularity: "grapheme" });

/**
 * Shortens text for a push: whitespace runs become one space, and text over
 * `maxLength` graphemes is cut at the last word boundary within the limit
 * (or mid-word when there is none) and ends with an ellipsis. Cutting by
 * grapheme never splits an emoji or a combined character.
 */
export function shortenText(text: string, maxLength: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  const graphemes = Array.from(segmenter.segment(flat), (part) => part.segment);
  if (graphemes.length <= maxLength) return flat;
  const kept = graphemes.slice(0, maxLength - 1).join("");
  // When the next grapheme is a space, the kept text already ends on a whole word.
  const endsOnWord = graphemes[maxLength - 1] === " ";
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
