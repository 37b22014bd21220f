// @ts-check
// DOM helpers. Text goes into the page only through text nodes, so user data
// never becomes markup.

/**
 * @typedef {object} ElementOptions
 * @property {string} [className]
 * @property {string} [testId] value of data-testid
 * @property {string} [text] text content, set as a text node
 * @property {Record<string, string>} [attrs] attributes, set with setAttribute
 * @property {Record<string, string>} [data] data-* attributes
 * @property {Record<string, (event: Event) => void>} [on] event listeners
 */

/**
 * Creates an element. `options.text` and string children become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {ElementOptions} [options]
 * @param {(Node | string | null | undefined | false)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, options = {}, children = []) {
  const element = document.createElement(tag);
  if (options.className) element.className = options.className;
  if (options.testId) element.dataset.testid = options.testId;
  for (const [name, value] of Object.entries(options.attrs ?? {})) {
    element.setAttribute(name, value);
  }
  for (const [name, value] of Object.entries(options.data ?? {})) {
    element.dataset[name] = value;
  }
  for (const [type, listener] of Object.entries(options.on ?? {})) {
    element.addEventListener(type, listener);
  }
  if (options.text !== undefined) element.textContent = options.text;
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(
      typeof child === "string" ? document.createTextNode(child) : child,
    );
  }
  return element;
}

/**
 * Finds the element with the given data-testid and checks its type.
 * @template {Element} T
 * @param {string} testId
 * @param {new (...args: any[]) => T} type
 * @param {ParentNode} [root]
 * @returns {T}
 */
export function byTestId(testId, type, root = document) {
  const element = root.querySelector(`[data-testid="${testId}"]`);
  if (!(element instanceof type)) {
    throw new Error(`page has no ${type.name} with data-testid="${testId}"`);
  }
  return element;
}

/**
 * Makes `container`'s children match `items` in order. Existing children are
 * kept, matched by `data-key`, and passed to `update`. New ones come from
 * `create`, and children without an item are removed. Keeping nodes keeps
 * scroll position, focus and text selection while the list changes.
 * @template T
 * @param {HTMLElement} container
 * @param {readonly T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} create
 * @param {(element: HTMLElement, item: T) => void} [update]
 */
export function renderKeyed(container, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const child of Array.from(container.children)) {
    if (child instanceof HTMLElement && child.dataset.key !== undefined) {
      existing.set(child.dataset.key, child);
    } else {
      child.remove();
    }
  }
  /** @type {ChildNode | null} */
  let next = container.firstChild;
  for (const item of items) {
    const key = keyOf(item);
    let element = existing.get(key);
    if (element) {
      existing.delete(key);
      update?.(element, item);
    } else {
      element = create(item);
      element.dataset.key = key;
    }
    if (element !== next) container.insertBefore(element, next);
    next = element.nextSibling;
  }
  for (const element of existing.values()) element.remove();
}

/**
 * Formats an ISO time as the local wall-clock time with seconds.
 * @param {string} iso
 */
export function formatTime(iso) {
  return new Date(iso).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/**
 * Shows or hides an element through its `hidden` attribute.
 * @param {HTMLElement} element
 * @param {boolean} visible
 */
export function show(element, visible) {
  element.hidden = !visible;
}
