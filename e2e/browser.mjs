// The user's part of the suite, in headless Chromium driven by playwright-core: open the link an
// MCP client was given, check and use scopeup's picker, sign in and consent at the provider, and
// read scopeup's result page. Pages that are photographed are also audited with axe-core, in
// light and dark schemes at desktop and phone widths, and the picker is walked with the
// keyboard alone.

import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
// WCAG 2.1 A and AA, and axe's best practices.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
const BLOCKING_IMPACTS = ['serious', 'critical'];

const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export class CheckFailed extends Error {}

export function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/// One person's browser: its own cookies at scopeup and at the provider.
export class User {
  constructor(browser, name, { screenshots, log }) {
    this.browser = browser;
    this.name = name;
    this.screenshots = screenshots;
    this.log = log;
    this.context = null;
  }

  async page() {
    if (!this.context) {
      this.context = await this.browser.newContext({ viewport: DESKTOP });
      this.context.setDefaultTimeout(15_000);
    }
    return this.context.newPage();
  }

  /// Forgets every cookie, like a fresh browser profile.
  async forget() {
    await this.context?.close();
    this.context = null;
  }

  async shoot(page, name) {
    if (!this.screenshots) return;
    mkdirSync(this.screenshots, { recursive: true });
    await page.screenshot({ path: path.join(this.screenshots, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: path.join(this.screenshots, `${name}-phone.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: path.join(this.screenshots, `${name}-phone-dark.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(DESKTOP);
  }

  /// Runs axe-core on the page in the light and the dark scheme, at desktop and phone widths,
  /// and fails on any serious or critical violation.
  async audit(page, name) {
    const found = [];
    const minor = new Set();
    let rules = 0;
    for (const colorScheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme });
      for (const [width, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
        await page.setViewportSize(viewport);
        // Evaluated through the DevTools protocol, which the page's CSP does not govern.
        if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
          await page.evaluate(AXE_SOURCE);
        }
        const results = await page.evaluate(
          (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }),
          AXE_TAGS,
        );
        rules = Math.max(rules, results.passes.length + results.violations.length);
        for (const violation of results.violations) {
          if (!BLOCKING_IMPACTS.includes(violation.impact)) {
            minor.add(`${violation.id} (${violation.impact})`);
            continue;
          }
          const where = violation.nodes.map((node) => node.target.join(' ')).join(', ');
          found.push(`${colorScheme} ${width}: ${violation.id} (${violation.impact}): ${violation.help} at ${where}`);
        }
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(DESKTOP);
    check(found.length === 0, `axe-core found on the ${name} page:\n  ${found.join('\n  ')}`);
    const noted = minor.size ? `; noted: ${[...minor].join(', ')}` : '';
    this.log(
      `${name}: axe-core ${rules} rules, no serious or critical violation (light, dark; desktop, phone)${noted}`,
    );
  }

  /// Tabs through the picker from the top: every optional scope and both buttons must be
  /// reached, each with a visible focus outline, and Space must tick and untick a scope.
  async walkWithKeyboard(page) {
    await page.locator('body').focus();
    const wanted = await page
      .locator('input[name=scope], button[name=action]')
      .evaluateAll((elements) => elements.map((element) => `${element.name}=${element.value}`));
    const reached = new Set();
    for (let step = 0; step < wanted.length + 20 && reached.size < wanted.length; step += 1) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const element = document.activeElement;
        const style = getComputedStyle(element);
        return {
          key: `${element.name}=${element.value}`,
          outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
        };
      });
      if (!wanted.includes(focused.key)) continue;
      check(focused.outline, `${focused.key} has no visible focus outline`);
      reached.add(focused.key);
    }
    const missed = wanted.filter((key) => !reached.has(key));
    check(missed.length === 0, `the keyboard never reached ${missed.join(', ')}`);

    const box = page.locator('input[name=scope]').first();
    await box.focus();
    await page.keyboard.press('Space');
    check(await box.isChecked(), 'Space did not tick a scope');
    await page.keyboard.press('Space');
    check(!(await box.isChecked()), 'Space did not untick a scope');
    this.log(`the keyboard reaches all ${wanted.length} controls of the picker, with a visible focus`);
  }

  /// Reads scopeup's picker at `link`: the scopes shown as already granted, the ones needed by
  /// the tool (checked, not removable) and the templates.
  async openPicker(link, { shot } = {}) {
    const page = await this.page();
    const response = await page.goto(link);
    check(response.status() === 200, `the picker answered ${response.status()}`);
    const picker = {
      page,
      title: await page.locator('h1').innerText(),
      granted: await scopesIn(page, 'fieldset.granted'),
      needed: await scopesIn(page, 'fieldset.needed'),
      neededChecked: await page
        .locator('fieldset.needed input[type=checkbox]')
        .evaluateAll((boxes) => boxes.every((box) => box.checked)),
      templates: await page.locator('fieldset.templates button').evaluateAll((buttons) =>
        buttons.map((button) => button.value),
      ),
    };
    if (shot) {
      await this.shoot(page, shot);
      await this.audit(page, shot);
      await this.walkWithKeyboard(page);
    }
    this.log(`${this.name} opened the picker: granted [${picker.granted}], needed [${picker.needed}]`);
    return picker;
  }

  /// Submits the picker (with a template, or with the pre-selected scopes), then goes through
  /// the provider: signs in when asked, unticks `untick` at the consent screen and allows. Ends
  /// on the page the browser lands on (scopeup's result page) and returns what it says.
  async authorize(picker, { template, password, untick = [], shot } = {}) {
    const { page } = picker;
    if (template) {
      await page.locator(`fieldset.templates button[value="${template}"]`).click();
    } else {
      await page.locator('button[name=action][value=continue]').click();
    }
    await page.waitForLoadState('domcontentloaded');

    const consented = { unticked: [], offered: [] };
    for (let step = 0; step < 4; step += 1) {
      const url = new URL(page.url());
      if (!url.pathname.startsWith('/interaction/')) break;
      if (await page.locator('input[name=password]').count()) {
        this.log(`${this.name} signs in at the provider`);
        await page.fill('input[name=login]', this.name);
        await page.fill('input[name=password]', password ?? this.name);
        await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
        continue;
      }
      if (await page.locator('button[value=allow]').count()) {
        consented.offered = await page
          .locator('input[type=checkbox][name=scope]')
          .evaluateAll((boxes) => boxes.map((box) => box.value));
        for (const scope of untick) {
          const box = page.locator(`input[type=checkbox][name=scope][value="${scope}"]`);
          check((await box.count()) === 1, `the consent screen offers no ${scope} to untick`);
          await box.uncheck();
          consented.unticked.push(scope);
        }
        this.log(`${this.name} allows [${consented.offered}] minus [${consented.unticked}]`);
        await Promise.all([page.waitForNavigation(), page.click('button[value=allow]')]);
        continue;
      }
      throw new CheckFailed(`unexpected provider page at ${url.pathname}`);
    }
    await page.waitForLoadState('domcontentloaded');
    const result = await readResult(page);
    result.consented = consented;
    this.log(`${this.name} lands on "${result.title}" (${new URL(page.url()).pathname})`);
    if (shot) {
      await this.shoot(page, shot);
      await this.audit(page, shot);
    }
    await page.close();
    return result;
  }
}

async function scopesIn(page, selector) {
  return page
    .locator(`${selector} label code`)
    .evaluateAll((codes) => codes.map((code) => code.textContent.trim()));
}

async function readResult(page) {
  const title = (await page.locator('h1').first().innerText()).trim();
  const text = await page.locator('body').innerText();
  // The lists follow the headings "Granted" and "Declined by …".
  const lists = await page.locator('h2').evaluateAll((headings) =>
    headings.map((heading) => ({
      heading: heading.textContent.trim(),
      scopes: [...(heading.nextElementSibling?.querySelectorAll('code') ?? [])].map((code) =>
        code.textContent.trim(),
      ),
    })),
  );
  const list = (prefix) => lists.find((entry) => entry.heading.startsWith(prefix))?.scopes ?? [];
  return { title, text, url: page.url(), granted: list('Granted'), declined: list('Declined') };
}
