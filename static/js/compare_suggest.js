// What a change in compare mode should bring along, from the lessons the page lists: changing the cell to LSTM
// makes the forget bias matter, and the lesson that makes the same change says what value it teaches with.  No DOM:
// node --test loads this module directly.

/**
 * What a change of `key` to `value` should bring along: the keys that apply to the changed setting but not to A
 * (an LSTM's forget bias), with the values of the first listed lesson that makes the same change and sets them.
 * {pairs, lesson} when a lesson does, {pairs: [], keys, lesson: null} when none does, null when nothing new applies.
 */
export function lessonSuggestion(schema, base, key, value, lessons) {
  const changed = { ...base, [key]: value };
  const keys = schema.fields.map((f) => f.name).filter((k) => schema.applies(k, changed) && !schema.applies(k, base));
  if (!keys.length) return null;
  const read = (k, text) => readOrUndefined(schema, k, text);
  for (const lesson of lessons) {
    if (!lesson.params.has(key) || read(key, lesson.params.get(key)) !== value) continue;
    const pairs = keys.filter((k) => lesson.params.has(k)).map((k) => [k, read(k, lesson.params.get(k))])
      .filter(([, v]) => v !== undefined);
    if (pairs.length) return { pairs, keys, lesson: lesson.title };
  }
  return { pairs: [], keys, lesson: null };
}

/** Key `name`'s value read from `text`, or undefined when it is not one. */
export function readOrUndefined(schema, name, text) {
  try {
    return schema.parseValue(name, text);
  } catch {
    return undefined;
  }
}
