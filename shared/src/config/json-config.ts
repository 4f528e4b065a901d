/**
 * A config written as JSON (JSON is YAML, and generated configs of thousands of portals usually are JSON) is read
 * with JSON.parse: the YAML parser's syntax tree of a 25,000-endpoint file held about 450 MB at once, JSON.parse
 * none. YAML refuses a repeated key; JSON.parse keeps the last one silently, so repeated keys are looked for here.
 */

export interface JsonProblem {
  line: number;
  column: number;
  message: string;
}

/** The parsed document, a problem (repeated key), or undefined when the text is not JSON (then it is read as YAML). */
export function parseJsonConfig(text: string): { data: unknown } | { problem: JsonProblem } | undefined {
  if (!/^\s*\{/.test(text)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // Not plain JSON (YAML flow style, comments, a syntax error): the YAML parser reads it and names any error.
    return undefined;
  }
  const repeated = repeatedKey(text);
  return repeated ? { problem: repeated } : { data };
}

/** The first key that appears twice in one object of a valid JSON text, with where its second occurrence starts. */
export function repeatedKey(text: string): JsonProblem | undefined {
  // One entry per open object (its keys so far) or array (undefined).
  const stack: (Set<string> | undefined)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      const start = i;
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c /* \ */ ? 2 : 1;
      i = end;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(text.slice(start, end + 1)) as string;
        if (top.has(key)) return { ...position(text, start), message: `key "${key}" appears twice in one object` };
        top.add(key);
        expectKey = false;
      }
    } else if (ch === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (ch === 0x5b /* [ */) {
      stack.push(undefined);
      expectKey = false;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (ch === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] !== undefined;
    }
  }
  return undefined;
}

function position(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}
