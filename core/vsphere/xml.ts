import { XMLParser } from 'fast-xml-parser';

/**
 * The XML half of the vim25 SOAP client: requests are written by hand-templates (every value through `escapeXml`),
 * responses are read through `XmlNode`, a thin view over fast-xml-parser's output.
 *
 * vim25 is a sequence schema: a real vCenter rejects elements out of their WSDL order, so the templates write fields in
 * the order of govmomi's vim25/types structs (which follow the WSDL), never in object-key order.
 */

/** A managed object reference: `<x type="VirtualMachine">vm-42</x>`. */
export interface MoRef {
  readonly type: string;
  readonly value: string;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes text and attribute values; names of VMs, datastores and passwords may hold any character. */
export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

/** `<name>value</name>` with the value escaped. */
export function textElement(name: string, value: string | number | boolean): string {
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** `<name type="T">value</name>`. */
export function moRefElement(name: string, ref: MoRef): string {
  return `<${name} type="${escapeXml(ref.type)}">${escapeXml(ref.value)}</${name}>`;
}

/** `<name xsi:type="T">content</name>`: a polymorphic field (a device, a backing, a spec subclass). */
export function typedElement(name: string, xsiType: string, content: string): string {
  return `<${name} xsi:type="${escapeXml(xsiType)}">${content}</${name}>`;
}

/** The SOAP 1.1 envelope around one vim25 method call. `body` is the method's parameters after `_this`. */
export function envelope(method: string, thisRef: MoRef, body: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"' +
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
    `<soapenv:Body><${method} xmlns="urn:vim25">${moRefElement('_this', thisRef)}${body}</${method}>` +
    '</soapenv:Body></soapenv:Envelope>'
  );
}

type RawElement = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Every element becomes an array and every element an object with '#text', so one shape reads them all: a
  // one-element list and a repeated one look alike (propSet, device, objects) and "0042" stays a string.
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
  alwaysCreateTextNode: true,
  parseTagValue: false,
  parseAttributeValue: false,
  // Prefixes are kept: a property value holds both `type` (the MoRef's) and `xsi:type` (the value's).
  removeNSPrefix: false,
  // Go's encoder (vcsim, and the vCenter it imitates) writes quotes as &#34;: numeric references must be decoded.
  htmlEntities: true,
});

/** A read-only view of one parsed element. Names are matched without their namespace prefix. */
export class XmlNode {
  constructor(
    readonly name: string,
    private readonly raw: RawElement,
  ) {}

  /** Parses a document and returns its root element. */
  static parse(xml: string): XmlNode {
    const doc = parser.parse(xml) as RawElement;
    for (const [key, value] of Object.entries(doc)) {
      if (key.startsWith('?') || !Array.isArray(value)) continue;
      const first: unknown = value[0];
      if (isRaw(first)) return new XmlNode(localName(key), first);
    }
    throw new Error('the response holds no XML element');
  }

  /** Every child element called `name` (its local name), in document order. */
  children(name: string): XmlNode[] {
    const result: XmlNode[] = [];
    for (const [key, value] of Object.entries(this.raw)) {
      if (key.startsWith('@_') || key === '#text' || localName(key) !== name || !Array.isArray(value)) continue;
      for (const item of value) if (isRaw(item)) result.push(new XmlNode(name, item));
    }
    return result;
  }

  /** The first child element called `name`, or undefined. */
  child(name: string): XmlNode | undefined {
    return this.children(name)[0];
  }

  /** Every child element, whatever its name. */
  elements(): XmlNode[] {
    const result: XmlNode[] = [];
    for (const [key, value] of Object.entries(this.raw)) {
      if (key.startsWith('@_') || key === '#text' || !Array.isArray(value)) continue;
      for (const item of value) if (isRaw(item)) result.push(new XmlNode(localName(key), item));
    }
    return result;
  }

  /** The element's text ('' when empty). */
  text(): string {
    const text = this.raw['#text'];
    return typeof text === 'string' ? text : '';
  }

  /** The text of the child `name`, or undefined when there is no such child. */
  childText(name: string): string | undefined {
    return this.child(name)?.text();
  }

  /** An attribute by its name as written (`type`, `xsi:type`). */
  attribute(name: string): string | undefined {
    const value = this.raw[`@_${name}`];
    return typeof value === 'string' ? value : undefined;
  }

  /** The `xsi:type` of a polymorphic element (whatever prefix the server bound to the schema-instance namespace). */
  xsiType(): string | undefined {
    for (const [key, value] of Object.entries(this.raw)) {
      if (
        key.startsWith('@_') &&
        localName(key.slice(2)) === 'type' &&
        key.includes(':') &&
        typeof value === 'string'
      ) {
        return localName(value);
      }
    }
    return undefined;
  }

  /** Reads this element as a managed object reference. */
  moRef(): MoRef {
    const type = this.attribute('type');
    if (type === undefined) throw new Error(`<${this.name}> is not a managed object reference (no type attribute)`);
    return { type, value: this.text() };
  }
}

function isRaw(value: unknown): value is RawElement {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(':');
  return colon === -1 ? qualified : qualified.slice(colon + 1);
}
