// Public API of the WBXML codec. Command code builds trees with x()/ns() and never sees bytes.

export type { WbxmlElement, Content } from './tree.js';
export { x, child, childrenOf, childText } from './tree.js';
export { WbxmlError, type WbxmlErrorCode } from './errors.js';
export {
  decodeWbxml,
  decodeWbxmlDocument,
  DEFAULT_WBXML_LIMITS,
  type WbxmlLimits,
  type WbxmlDocument,
} from './decode.js';
export { encodeWbxml } from './encode.js';
export {
  toXml,
  fromXml,
  toLibwbxmlXml,
  fromLibwbxmlXml,
  libwbxmlLabel,
  libwbxmlNamespaceUri,
  LIBWBXML_LABELS,
  LIBWBXML_UNKNOWN_TAGS,
  type ToXmlOptions,
  type ToLibwbxmlOptions,
} from './xml.js';
export {
  CODE_PAGES,
  OPAQUE_TAGS,
  LEGACY_TAGS,
  PAGE_COUNT,
  allTags,
  codeOf,
  tagOf,
  isKnownTag,
  isOpaqueTag,
  isLegacyTag,
  pageOfNamespace,
  namespaceOfPage,
  type WbxmlNamespace,
  type WbxmlTag,
  type WbxmlTagName,
} from './codepages.js';
