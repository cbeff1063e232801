/**
 * A deliberately strict, tiny XML reader for tests: elements, attributes, text, entity and
 * character references, comments and an optional declaration. It throws on anything a
 * conforming parser would reject in these documents (raw '<' or '&' in text or attributes,
 * mismatched tags, trailing content), so a passing round trip proves the escaping.
 */
export interface XmlElement {
  tag: string;
  attrs: Record<string, string>;
  children: (XmlElement | string)[];
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(raw: string, where: string): string {
  if (raw.includes('<')) throw new Error(`raw '<' in ${where}`);
  return raw.replace(/&([^;]*);|&/g, (match, ref: string | undefined) => {
    if (ref === undefined) throw new Error(`bare '&' in ${where}`);
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const named = NAMED[ref];
    if (named === undefined) throw new Error(`unknown entity ${match} in ${where}`);
    return named;
  });
}

export function parseXml(xml: string): XmlElement {
  let pos = 0;
  const fail = (msg: string): never => {
    throw new Error(`${msg} at offset ${pos}`);
  };
  const skipMisc = () => {
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(pos))![0];
      pos += ws.length;
      if (xml.startsWith('<?', pos)) pos = xml.indexOf('?>', pos) + 2;
      else if (xml.startsWith('<!--', pos)) pos = xml.indexOf('-->', pos) + 3;
      else return;
    }
  };
  const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*/;

  const parseElement = (): XmlElement => {
    if (xml[pos] !== '<') fail('expected <');
    pos++;
    const tag = NAME.exec(xml.slice(pos))?.[0] ?? fail('bad tag name');
    pos += tag.length;
    const attrs: Record<string, string> = {};
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(pos))![0];
      pos += ws.length;
      if (xml.startsWith('/>', pos)) {
        pos += 2;
        return { tag, attrs, children: [] };
      }
      if (xml[pos] === '>') {
        pos++;
        break;
      }
      if (ws.length === 0) fail('expected whitespace before attribute');
      const name = NAME.exec(xml.slice(pos))?.[0] ?? fail('bad attribute name');
      pos += name.length;
      if (xml[pos] !== '=') fail('expected =');
      const quote = xml[pos + 1];
      if (quote !== '"' && quote !== "'") fail('expected quote');
      const end = xml.indexOf(quote!, pos + 2);
      if (end < 0) fail('unterminated attribute');
      if (name in attrs) fail(`duplicate attribute ${name}`);
      attrs[name] = decodeEntities(xml.slice(pos + 2, end), `attribute ${name}`);
      pos = end + 1;
    }
    const children: (XmlElement | string)[] = [];
    for (;;) {
      if (xml.startsWith('</', pos)) {
        pos += 2;
        const close = NAME.exec(xml.slice(pos))?.[0] ?? fail('bad closing tag');
        if (close !== tag) fail(`</${close}> closes <${tag}>`);
        pos += close.length;
        if (xml[pos] !== '>') fail('expected >');
        pos++;
        return { tag, attrs, children };
      }
      if (xml.startsWith('<!--', pos)) {
        pos = xml.indexOf('-->', pos) + 3;
      } else if (xml[pos] === '<') {
        children.push(parseElement());
      } else {
        const next = xml.indexOf('<', pos);
        if (next < 0) fail(`unterminated <${tag}>`);
        const raw = xml.slice(pos, next);
        if (raw.includes(']]>')) fail("']]>' in text");
        children.push(decodeEntities(raw, `<${tag}> text`));
        pos = next;
      }
    }
  };

  skipMisc();
  const root = parseElement();
  skipMisc();
  if (pos !== xml.length) fail('content after the root element');
  return root;
}

/** The first element at a '/'-separated path below `root` (e.g. 'metadata/strato:instance'). */
export function findElement(root: XmlElement, path: string): XmlElement | undefined {
  let current: XmlElement | undefined = root;
  for (const part of path.split('/')) {
    current = current?.children.find((c): c is XmlElement => typeof c !== 'string' && c.tag === part);
  }
  return current;
}

export function textOf(el: XmlElement | undefined): string | undefined {
  if (!el) return undefined;
  return el.children.filter((c): c is string => typeof c === 'string').join('');
}
