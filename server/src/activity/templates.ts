import { z } from "zod";
import { activityActions, type ActivityAction } from "../protocol/index.js";
import { shortenText } from "../push/text.js";
import { activityObjectTypes, type ActivityObjectType } from "./schema.js";

/**
 * Template variants of one action. The renderer takes the most specific
 * variant whose values are present: `single_text` needs comment text,
 * `*_titled` an object title, and `multiple*` is used for a roll-up of
 * several actors.
 */
const variantNames = [
  "single",
  "single_titled",
  "single_text",
  "multiple",
  "multiple_titled",
] as const;
type Variant = (typeof variantNames)[number];

const languageSchema = z.object({
  headings: z.partialRecord(z.enum(activityActions), z.string().min(1)),
  actions: z.partialRecord(
    z.enum(activityActions),
    z.partialRecord(z.enum(variantNames), z.string().min(1)),
  ),
  objects: z.partialRecord(
    z.enum(activityObjectTypes),
    z.object({ noun: z.string().min(1), withArticle: z.string().min(1) }),
  ),
  /** Pattern that joins two actors, with {first} and {second}. */
  actorsTwo: z.string().min(1),
  /** Pattern that joins more actors, with {first} and {others}, the count of the rest. */
  actorsMany: z.string().min(1),
});

/** Template overrides as read from ACTIVITY_TEMPLATES_FILE: language code to a partial language. */
export const templateFileSchema = z.record(
  z
    .string()
    .regex(
      /^[a-z]{2}(-[A-Za-z]{2,4})?$/,
      "must be a language code such as en or pt-BR",
    ),
  languageSchema.partial(),
);

export type LanguageTemplates = z.output<typeof languageSchema>;
export type ActivityTemplates = Record<string, LanguageTemplates>;

/**
 * English defaults. Placeholders: {actor} (first actor), {actors} (all
 * actors joined), {object} (noun), {anObject} (noun with article), {title}
 * and {text}.
 */
export const DEFAULT_TEMPLATES: ActivityTemplates = {
  en: {
    headings: {
      like: "New like",
      mention: "New mention",
      tag: "You were tagged",
      invite: "New invitation",
      comment: "New comment",
      follow: "New follower",
      share: "Shared with you",
    },
    actions: {
      like: {
        single: "{actor} liked your {object}.",
        multiple: "{actors} liked your {object}.",
      },
      mention: {
        single: "{actor} mentioned you in {anObject}.",
        multiple: "{actors} mentioned you in {anObject}.",
      },
      tag: {
        single: "{actor} tagged you in {anObject}.",
        multiple: "{actors} tagged you in {anObject}.",
      },
      invite: {
        single: "{actor} invited you to the {object}.",
        single_titled: "{actor} invited you to '{title}'.",
        multiple: "{actors} invited you to the {object}.",
        multiple_titled: "{actors} invited you to '{title}'.",
      },
      comment: {
        single: "{actor} commented on your {object}.",
        single_text: "{actor} replied: '{text}'",
        multiple: "{actors} commented on your {object}.",
      },
      follow: {
        single: "{actor} started following you.",
        multiple: "{actors} started following you.",
      },
      share: {
        single: "{actor} shared {anObject} with you.",
        single_titled: "{actor} shared '{title}' with you.",
        multiple: "{actors} shared {anObject} with you.",
        multiple_titled: "{actors} shared '{title}' with you.",
      },
    },
    objects: {
      post: { noun: "post", withArticle: "a post" },
      comment: { noun: "comment", withArticle: "a comment" },
      photo: { noun: "photo", withArticle: "a photo" },
      event: { noun: "event", withArticle: "an event" },
      album: { noun: "album", withArticle: "an album" },
    },
    actorsTwo: "{first} and {second}",
    actorsMany: "{first} and {others} others",
  },
};

/**
 * Merges overrides over the defaults. Each language starts from English, so
 * a language that overrides only some actions falls back to English text
 * for the others.
 */
export function mergeTemplates(
  overrides: z.output<typeof templateFileSchema>,
): ActivityTemplates {
  const english = DEFAULT_TEMPLATES.en!;
  const merged: ActivityTemplates = { ...DEFAULT_TEMPLATES };
  for (const [language, partial] of Object.entries(overrides)) {
    const base = merged[language] ?? english;
    const actions = { ...base.actions };
    for (const action of activityActions) {
      if (partial.actions?.[action]) {
        actions[action] = {
          ...base.actions[action],
          ...partial.actions[action],
        };
      }
    }
    merged[language] = {
      headings: { ...base.headings, ...partial.headings },
      actions,
      objects: { ...base.objects, ...partial.objects },
      actorsTwo: partial.actorsTwo ?? base.actorsTwo,
      actorsMany: partial.actorsMany ?? base.actorsMany,
    };
  }
  return merged;
}

export interface ActivityRenderInput {
  action: ActivityAction;
  objectType: ActivityObjectType | null;
  title: string | null;
  /** Distinct actors' names in first-seen order; at least one. */
  actorNames: string[];
  /** Distinct actors in all, which may exceed `actorNames`. */
  actorCount: number;
  text: string | null;
}

const fill = (template: string, values: Record<string, string>) =>
  template.replace(
    /\{(\w+)\}/g,
    (match, name: string) => values[name] ?? match,
  );

function pickVariant(
  variants: Partial<Record<Variant, string>>,
  input: ActivityRenderInput,
): string {
  const order: Variant[] =
    input.actorCount > 1
      ? [input.title ? "multiple_titled" : "multiple", "multiple", "single"]
      : [
          ...(input.text ? (["single_text"] as const) : []),
          ...(input.title ? (["single_titled"] as const) : []),
          "single",
        ];
  for (const variant of order) {
    const template = variants[variant];
    if (template) return template;
  }
  return variants.single ?? "{actor}";
}

/** Quoted comment text in an activity push, in graphemes. */
const QUOTE_LENGTH = 100;
/** Actor names and object titles in an activity push, in graphemes. */
const NAME_LENGTH = 50;

/** Renders heading and content of an activity in every language of `templates`. */
export function renderActivity(
  templates: ActivityTemplates,
  input: ActivityRenderInput,
): { headings: Record<string, string>; contents: Record<string, string> } {
  const headings: Record<string, string> = {};
  const contents: Record<string, string> = {};
  for (const [language, languageTemplates] of Object.entries(templates)) {
    const english = DEFAULT_TEMPLATES.en!;
    const variants =
      languageTemplates.actions[input.action] ?? english.actions[input.action]!;
    const object = input.objectType
      ? (languageTemplates.objects[input.objectType] ??
        english.objects[input.objectType]!)
      : { noun: "", withArticle: "" };
    const [first = "", second = ""] = input.actorNames.map(
      (name) => shortenText(name, NAME_LENGTH) || "Someone",
    );
    const actors =
      input.actorCount <= 1
        ? first
        : input.actorCount === 2
          ? fill(languageTemplates.actorsTwo, { first, second })
          : fill(languageTemplates.actorsMany, {
              first,
              others: String(input.actorCount - 1),
            });
    const values = {
      actor: first,
      actors,
      object: object.noun,
      anObject: object.withArticle,
      title: input.title ? shortenText(input.title, NAME_LENGTH) : "",
      text: input.text ? shortenText(input.text, QUOTE_LENGTH) : "",
    };
    headings[language] = fill(
      languageTemplates.headings[input.action] ??
        english.headings[input.action]!,
      values,
    );
    contents[language] = fill(pickVariant(variants, input), values);
  }
  return { headings, contents };
}
