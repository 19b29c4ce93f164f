// Element builders bound to one namespace: const A = ns('AirSync'); A('SyncKey', '1'). The tag names
// are checked against the code pages at compile time, so a misspelt tag cannot reach the encoder.
import { x, type Content, type WbxmlElement } from './tree.js';
import type { WbxmlNamespace, WbxmlTagName } from './codepages.js';

export type Builder<N extends WbxmlNamespace> = (name: WbxmlTagName<N>, ...content: Content[]) => WbxmlElement;

export function ns<N extends WbxmlNamespace>(namespace: N): Builder<N> {
  return (name, ...content) => x(`${namespace}:${name}`, ...content);
}
