// Text and HTML bodies as each other (eas/email/html.ts): escaped text keeps its lines, HTML reads as
// its text, large conversions come back the same from the cache, and nothing throws.
import { strict as assert } from 'node:assert';
import { escapeHtml, htmlToPlainText, textToHtml } from '../../eas/email/html.js';

describe('text and HTML bodies', () => {
  it('text becomes escaped HTML line by line; HTML becomes its text', () => {
    assert.equal(escapeHtml('a < b & "c" > d'), 'a &lt; b &amp; &quot;c&quot; &gt; d');
    assert.equal(textToHtml('one\r\ntwo <3'), '<div>one<br>\r\ntwo &lt;3</div>');
    assert.equal(htmlToPlainText('<p>Agenda &amp; <b>notes</b></p><script>x()</script>'), 'Agenda & notes');
  });

  it('a large body converts the same each time (remembered), and many different ones stay bounded', () => {
    const paragraphs = '<p>Paragraph with <i>some</i> text &amp; more.</p>'.repeat(2000);
    const big = `<html><body>${paragraphs}</body></html>`;
    const first = htmlToPlainText(big);
    assert.match(first, /^Paragraph with some text & more\./);
    assert.equal(htmlToPlainText(big), first);
    for (let i = 0; i < 100; i++) assert.match(htmlToPlainText(`<html><body>${paragraphs}<p>${i}</p></body></html>`), new RegExp(`\\b${i}$`));
    assert.equal(htmlToPlainText(big), first);
  });

  it('deep or broken markup is read without throwing', () => {
    assert.equal(typeof htmlToPlainText('<div>'.repeat(5000) + 'deep' + '</div>'.repeat(5000)), 'string');
    assert.equal(htmlToPlainText('<p>unclosed <b>bold'), 'unclosed bold');
  });
});
