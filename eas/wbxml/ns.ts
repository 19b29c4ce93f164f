// Element builders bound to one namespace: const A = ns('AirSync'); A('SyncKey', '1').
import { x, type Content, type WbxmlElement } from './tree.js';

export type Builder = (name: string, ...content: Content[]) => WbxmlElement;

export function ns(namespace: string): Builder {
  return (name, ...content) => x(`${namespace}:${name}`, ...content);
}
