/* The sandbox page: draws what the chosen user would see in Slack (the M+3 channel and its threads,
   ephemeral messages, modals, the App Home, the app's messages) from /api/state, long-polled so that it
   follows the bot's posts and edits, and sends the user's gestures to /api/* (see sandbox/web.py).
   Plain JavaScript, no build step. Every word shown comes from /api/config (flows/texts/sandbox.yml) or
   from the bot. */
"use strict";

(() => {
  // The shortcodes the bot's texts use, and a few common ones.
  const EMOJI = {
    warning: "⚠️", white_check_mark: "✅", calendar: "📅", no_entry: "⛔", star: "⭐", bar_chart: "📊",
    chart_with_upwards_trend: "📈", telephone_receiver: "📞", phone: "📞", bell: "🔔", memo: "📝",
    clipboard: "📋", x: "❌", heavy_check_mark: "✔️", information_source: "ℹ️", hourglass: "⏳",
    hourglass_flowing_sand: "⏳", lock: "🔒", bust_in_silhouette: "👤", busts_in_silhouette: "👥",
  };
  const RETRY_MS = 1000;
  const TOAST_MS = 6000;

  let config = null;
  let me = null;
  let state = null;
  const ui = { pane: "channel", thread: null, tab: "home", replies: 0 };
  const drawn = {}; // region -> the data it was last drawn from: only what changed is redrawn
  const dismissed = new Set(); // ephemeral messages the user dismissed (Slack forgets them too)
  let localErrors = {}; // a modal's required fields left empty, found before sending
  let polling = null;

  const $ = (id) => document.getElementById(id);

  function tr(key, values = {}) {
    let text = config.texts[key] ?? key;
    for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{${name}}`, String(value));
    return text;
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "html") node.innerHTML = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  // ---- Slack's mrkdwn ---------------------------------------------------------------------------------

  const escapeHtml = (text) =>
    text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const unescapeSlack = (text) => text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const emoji = (text) => text.replace(/:([a-z0-9_+-]+):/g, (code, name) => EMOJI[name] ?? code);

  // Bold, italic, strike and code within one line of text (Slack-escaped on input, HTML on output).
  function styled(raw) {
    return escapeHtml(emoji(unescapeSlack(raw)))
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/(^|[^\w*])\*(?!\s)([^*]+?)\*(?!\w)/g, "$1<b>$2</b>")
      .replace(/(^|[^\w_])_(?!\s)([^_]+?)_(?!\w)/g, "$1<i>$2</i>")
      .replace(/(^|[^\w~])~(?!\s)([^~]+?)~(?!\w)/g, "$1<s>$2</s>");
  }

  // <url|label>, <mailto:…|…>, <@U…>, <#C…>, <!here>
  function token(inner) {
    const bar = inner.indexOf("|");
    const target = bar < 0 ? inner : inner.slice(0, bar);
    const label = bar < 0 ? null : inner.slice(bar + 1);
    if (target.startsWith("@")) return `<span class="mention">@${escapeHtml(userName(target.slice(1)))}</span>`;
    if (target.startsWith("#")) {
      const name = label ?? (target.slice(1) === config.channel.id ? config.channel.name : target.slice(1));
      return `<span class="mention">#${escapeHtml(name)}</span>`;
    }
    if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(label ?? target.slice(1))}</span>`;
    if (!/^(https?:|mailto:|tel:)/.test(target)) return styled(label ?? target);
    return `<a href="${escapeHtml(target)}" target="_blank" rel="noopener">${styled(label ?? target)}</a>`;
  }

  function inline(raw) {
    let html = "";
    let last = 0;
    for (const match of raw.matchAll(/<([^<>]+)>/g)) {
      html += styled(raw.slice(last, match.index)) + token(match[1]);
      last = match.index + match[0].length;
    }
    return html + styled(raw.slice(last));
  }

  function mrkdwn(text) {
    const out = [];
    let quote = [];
    const flush = () => {
      if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
      quote = [];
    };
    for (const line of (text || "").split("\n")) {
      const quoted = /^(>|&gt;) ?/.exec(line);
      if (quoted) {
        quote.push(inline(line.slice(quoted[0].length)));
      } else {
        flush();
        out.push(inline(line) + "<br>");
      }
    }
    flush();
    return out.join("").replace(/<br>$/, "");
  }

  const plain = (text) => (text ? emoji(text.text ?? text) : "");

  function textNode(text, cls = "") {
    return text.type === "mrkdwn"
      ? el("div", { class: `mrkdwn ${cls}`, html: mrkdwn(text.text) })
      : el("div", { class: `plain ${cls}` }, plain(text));
  }

  // ---- people and time --------------------------------------------------------------------------------

  function userName(id) {
    if (id === config.bot.id) return config.bot.name;
    return config.users.find((user) => user.id === id)?.real_name ?? id;
  }

  function clockTime(ts) {
    const when = new Date(parseInt(ts, 10) * 1000);
    return new Intl.DateTimeFormat("fr-FR", { timeZone: config.timezone, hour: "2-digit", minute: "2-digit" }).format(when);
  }

  // A Unix time as the value of a datetime-local input, read in the agency's time zone.
  function localDateTime(seconds) {
    const format = new Intl.DateTimeFormat("sv-SE", {
      timeZone: config.timezone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    });
    return format.format(new Date(seconds * 1000)).replace(" ", "T");
  }

  const byTs = (a, b) => parseFloat(a.ts) - parseFloat(b.ts);

  // ---- talking to the sandbox -------------------------------------------------------------------------

  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, TOAST_MS);
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: me, ...body }),
      });
    } catch (error) {
      toast(tr("offline"));
      return {};
    }
    const answer = await response.json().catch(() => ({}));
    if (response.status === 502) toast(tr("bot_unreachable"));
    else if (!response.ok || (answer.status && answer.status !== 200)) {
      toast(tr("bot_error", { status: answer.status || response.status }));
    }
    return answer;
  }

  const act = (target, element, value) =>
    post("/api/click", { target, action_id: element.action_id, type: element.type, value });

  async function poll() {
    polling?.abort();
    const control = new AbortController();
    polling = control;
    let since = "";
    while (!control.signal.aborted) {
      try {
        const query = `user=${encodeURIComponent(me)}&since=${encodeURIComponent(since)}`;
        const response = await fetch(`/api/state?${query}`, { signal: control.signal });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const next = await response.json();
        since = next.version;
        draw(next);
      } catch (error) {
        if (control.signal.aborted) return;
        toast(tr("offline"));
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  // ---- Block Kit ----------------------------------------------------------------------------------------

  function blocksNode(blocks, target) {
    return el("div", { class: "blocks" }, (blocks || []).map((block) => blockNode(block, target)));
  }

  function blockNode(block, target) {
    switch (block.type) {
      case "section":
        return el("div", { class: "block block-section" },
          el("div", { class: "section-main" },
            block.text ? textNode(block.text) : null,
            block.fields ? el("div", { class: "fields" }, block.fields.map((field) => textNode(field, "field"))) : null),
          block.accessory ? el("div", { class: "accessory" }, elementNode(block.accessory, target, null)) : null);
      case "header":
        return el("h3", { class: "block block-header" }, plain(block.text));
      case "context":
        return el("div", { class: "block block-context" }, block.elements.map((item) =>
          item.type === "image" ? el("img", { src: item.image_url, alt: item.alt_text }) : textNode(item)));
      case "divider":
        return el("hr", { class: "block block-divider" });
      case "actions":
        return el("div", { class: "block block-actions" }, block.elements.map((item) => elementNode(item, target, null)));
      case "input":
        return inputNode(block, target);
      case "image":
        return el("figure", { class: "block block-image" },
          block.title ? el("figcaption", {}, plain(block.title)) : null,
          // An image uploaded to Slack (slack_file) is served by the page like any file the bot uploaded.
          el("img", { src: block.slack_file ? `/api/file/${block.slack_file.id}` : block.image_url, alt: block.alt_text }));
      default:
        return el("div", { class: "block unsupported" }, tr("unsupported", { type: block.type }));
    }
  }

  function inputNode(block, target) {
    const id = `input-${block.block_id}`;
    const element = block.element;
    const grouped = ["checkboxes", "radio_buttons"].includes(element.type);
    return el("div", {
      class: "block block-input",
      dataset: { blockId: block.block_id, actionId: element.action_id, type: element.type, optional: String(!!block.optional) },
    },
      el(grouped ? "div" : "label", { class: "input-label", id: `${id}-label`, for: grouped ? null : id },
        plain(block.label), block.optional ? el("span", { class: "optional" }, " ", tr("optional")) : null),
      elementNode(element, target, { id, labelledBy: `${id}-label` }),
      block.hint ? el("div", { class: "hint" }, plain(block.hint)) : null,
      el("div", { class: "error", role: "alert", hidden: true }));
  }

  function options(element) {
    const option = (item) => el("option", { value: item.value }, plain(item.text));
    if (element.option_groups) {
      return element.option_groups.map((group) => el("optgroup", { label: plain(group.label) }, group.options.map(option)));
    }
    return (element.options || []).map(option);
  }

  // One interactive element; `field` ({id, labelledBy}) when it belongs to a modal's input block, whose
  // value is sent with the form; elsewhere, choosing a value sends it at once, as Slack does.
  function elementNode(element, target, field) {
    const send = (value) => { if (!field) act(target, element, value); };
    const id = field?.id;
    switch (element.type) {
      case "button": {
        const style = element.style ? ` ${element.style}` : "";
        return el("button", { type: "button", class: `btn${style}`, onclick: () => press(element, target) }, plain(element.text));
      }
      case "static_select":
      case "users_select": {
        const users = element.type === "users_select";
        const placeholder = plain(element.placeholder) || tr(users ? "choose_user" : "choose");
        const choices = users
          ? config.users.map((user) => el("option", { value: user.id }, user.real_name))
          : options(element);
        const select = el("select", { id, onchange: () => select.value && send(select.value) },
          el("option", { value: "" }, placeholder), choices);
        select.value = (users ? element.initial_user : element.initial_option?.value) ?? "";
        return select;
      }
      case "datepicker":
        return el("input", { id, type: "date", value: element.initial_date, onchange: (e) => send(e.target.value) });
      case "timepicker":
        return el("input", { id, type: "time", value: element.initial_time, onchange: (e) => send(e.target.value) });
      case "datetimepicker": {
        const value = element.initial_date_time ? localDateTime(element.initial_date_time) : null;
        return el("input", { id, type: "datetime-local", value, onchange: (e) => send(e.target.value) });
      }
      case "plain_text_input": {
        const props = { id, maxlength: element.max_length, placeholder: plain(element.placeholder) || null };
        if (element.multiline) return el("textarea", { ...props, rows: 3 }, element.initial_value ?? "");
        return el("input", { ...props, type: "text", value: element.initial_value });
      }
      case "checkboxes":
      case "radio_buttons": {
        const radio = element.type === "radio_buttons";
        const chosen = new Set(radio
          ? [element.initial_option?.value]
          : (element.initial_options || []).map((item) => item.value));
        const name = `${target.view_id ?? target.ts}-${element.action_id}`;
        const group = el("div", { class: "choices", role: radio ? "radiogroup" : "group", "aria-labelledby": field?.labelledBy });
        group.append(...element.options.map((item) => el("label", { class: "choice" },
          el("input", {
            type: radio ? "radio" : "checkbox", name, value: item.value, checked: chosen.has(item.value),
            onchange: () => send(radio ? item.value : [...group.querySelectorAll("input:checked")].map((box) => box.value)),
          }),
          el("span", {}, textNode(item.text), item.description ? textNode(item.description, "description") : null))));
        return group;
      }
      case "image":
        return el("img", { class: "accessory-image", src: element.image_url, alt: element.alt_text });
      default:
        return el("span", { class: "unsupported" }, tr("unsupported", { type: element.type }));
    }
  }

  // A button: the bot hears of the click; a link button also goes where it points (a thread here).
  function press(element, target) {
    act(target, element, null);
    if (!element.url) return;
    const thread = /\/archives\/([^/]+)\/p(\d+)$/.exec(element.url);
    if (thread && thread[1] === config.channel.id) {
      showPane("channel");
      openThread(`${thread[2].slice(0, -6)}.${thread[2].slice(-6)}`);
    } else {
      window.open(element.url, "_blank", "noopener");
    }
  }

  // ---- messages -----------------------------------------------------------------------------------------

  function messageNode(message, target, { ephemeral = false, replies = 0 } = {}) {
    const fromBot = message.user === config.bot.id || ephemeral;
    const author = fromBot ? config.bot.name : userName(message.user);
    const files = (message.files || []).map((file) => /\.png$/i.test(file.name)
      ? el("figure", { class: "file" }, el("img", { src: `/api/file/${file.id}`, alt: file.title }), el("figcaption", {}, file.title))
      : el("a", { class: "file", href: `/api/file/${file.id}`, download: file.name }, `📎 ${file.title || file.name}`));
    return el("article", { class: `message${ephemeral ? " ephemeral" : ""}`, dataset: { ts: message.ts } },
      el("div", { class: "avatar", "aria-hidden": "true" }, fromBot ? "M+3" : author.slice(0, 1)),
      el("div", { class: "content" },
        ephemeral ? el("div", { class: "only-you" }, `${tr("only_you")} · `,
          el("button", { type: "button", class: "link", onclick: () => { dismissed.add(message.ts); redraw(); } }, tr("dismiss"))) : null,
        el("div", { class: "meta" },
          el("span", { class: "author" }, author),
          fromBot ? el("span", { class: "app-tag" }, tr("app_tag")) : null,
          el("time", {}, clockTime(message.ts)),
          message.edited ? el("span", { class: "edited" }, tr("edited")) : null),
        message.blocks?.length ? blocksNode(message.blocks, target) : el("div", { class: "mrkdwn", html: mrkdwn(message.text) }),
        files,
        replies ? el("button", { type: "button", class: "thread-link", onclick: () => openThread(message.ts) },
          replies === 1 ? tr("reply_one") : tr("reply_other", { count: replies })) : null));
  }

  const inChannel = (target) => ({ kind: "message", channel: config.channel.id, ts: target.ts });
  const ephemeralTarget = (message) => ({ kind: "ephemeral", channel: message.channel, ts: message.ts });
  const ephemerals = (test) => state.ephemerals.filter((e) => !dismissed.has(e.ts) && test(e));

  // Redraw a list, keeping the reader where he was unless he was at its end, or `follow` says where to go.
  function fill(box, nodes, follow = null) {
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const scroll = box.scrollTop;
    box.replaceChildren(...nodes);
    if (follow) box.scrollTop += follow.getBoundingClientRect().top - box.getBoundingClientRect().top;
    else box.scrollTop = atEnd ? box.scrollHeight : scroll;
  }

  function drawChannel() {
    const items = [
      ...state.messages.map((message) => messageNode(message, inChannel(message), { replies: message.reply_count })),
      ...ephemerals((e) => e.channel === config.channel.id && !e.thread_ts)
        .map((message) => messageNode(message, ephemeralTarget(message), { ephemeral: true })),
    ];
    items.sort((a, b) => byTs(a.dataset, b.dataset));
    fill($("messages"), items.length ? items : [el("p", { class: "empty" }, tr("empty_channel"))]);
  }

  function drawThread() {
    const parent = ui.thread && state.messages.find((message) => message.ts === ui.thread);
    $("thread-pane").hidden = !parent;
    if (!parent) {
      $("thread").replaceChildren();
      return;
    }
    const replies = [
      ...(state.threads[parent.ts] || []).map((message) => messageNode(message, inChannel(message))),
      ...ephemerals((e) => e.thread_ts === parent.ts)
        .map((message) => messageNode(message, ephemeralTarget(message), { ephemeral: true })),
    ].sort((a, b) => byTs(a.dataset, b.dataset));
    const count = (state.threads[parent.ts] || []).length;
    // A new reply (the next step of the call) is brought into view; an edit leaves the reader in place.
    const follow = replies.length > ui.replies ? replies[replies.length - 1] : null;
    ui.replies = replies.length;
    fill($("thread"), [
      messageNode(parent, inChannel(parent)),
      el("div", { class: "replies-count" }, count === 1 ? tr("reply_one") : tr("reply_other", { count })),
      ...replies,
    ], follow);
  }

  function drawHome() {
    const home = state.home;
    $("home").replaceChildren(home
      ? blocksNode(home.blocks, { kind: "view", view_id: home.id })
      : el("p", { class: "empty" }, tr("empty_home")));
  }

  function drawIm() {
    const items = [
      ...state.im.messages.map((message) => messageNode(message, { kind: "message", channel: state.im.id, ts: message.ts })),
      ...ephemerals((e) => e.channel === state.im.id)
        .map((message) => messageNode(message, ephemeralTarget(message), { ephemeral: true })),
    ].sort((a, b) => byTs(a.dataset, b.dataset));
    fill($("im"), items.length ? items : [el("p", { class: "empty" }, tr("empty_im"))]);
  }

  // ---- modals -------------------------------------------------------------------------------------------

  function drawModal() {
    const modal = state.modal;
    const key = modal ? `${modal.id}|${modal.hash}` : "";
    const layer = $("modal-layer");
    if (drawn.modal !== key) {
      // Redrawn only when the bot opens, pushes or updates a view: what the user typed stays otherwise.
      drawn.modal = key;
      localErrors = {};
      layer.hidden = !modal;
      layer.replaceChildren(...(modal ? [modalNode(modal)] : []));
      layer.querySelector("input, select, textarea")?.focus();
    }
    if (modal) showErrors({ ...modal.errors, ...localErrors });
  }

  function modalNode(view) {
    const close = () => post("/api/close", { view_id: view.id });
    const form = el("form", {
      class: "modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "modal-title", novalidate: true,
      onsubmit: (event) => { event.preventDefault(); submit(view, form); },
    },
      el("header", {},
        el("h2", { id: "modal-title" }, plain(view.title)),
        el("button", { type: "button", class: "icon", "aria-label": plain(view.close) || "✕", onclick: close }, "✕")),
      el("div", { class: "modal-body" }, blocksNode(view.blocks, { kind: "view", view_id: view.id })),
      el("footer", {},
        view.close ? el("button", { type: "button", class: "btn", onclick: close }, plain(view.close)) : null,
        view.submit ? el("button", { type: "submit", class: "btn primary" }, plain(view.submit)) : null));
    return form;
  }

  function valueOf(input) {
    const { type } = input.dataset;
    if (type === "checkboxes") return [...input.querySelectorAll("input:checked")].map((box) => box.value);
    if (type === "radio_buttons") return input.querySelector("input:checked")?.value ?? null;
    const control = input.querySelector("input, select, textarea");
    return control && control.value !== "" ? control.value : null;
  }

  async function submit(view, form) {
    const values = {};
    localErrors = {};
    for (const input of form.querySelectorAll(".block-input")) {
      const { blockId, actionId, type, optional } = input.dataset;
      const value = valueOf(input);
      // Slack's own client refuses an empty required field before anything is sent.
      if (optional !== "true" && (value === null || (Array.isArray(value) && !value.length))) localErrors[blockId] = tr("required");
      (values[blockId] ??= {})[actionId] = { type, value };
    }
    showErrors(localErrors);
    if (Object.keys(localErrors).length) return;
    const answer = await post("/api/submit", { view_id: view.id, values });
    if (answer.errors) showErrors(answer.errors);
  }

  function showErrors(errors) {
    for (const input of document.querySelectorAll("#modal-layer .block-input")) {
      const box = input.querySelector(".error");
      const text = errors[input.dataset.blockId];
      box.textContent = text ?? "";
      box.hidden = !text;
      input.classList.toggle("invalid", !!text);
    }
  }

  // ---- the frame ----------------------------------------------------------------------------------------

  function drawClock(clock) {
    const box = $("clock");
    box.className = clock.legal ? "legal" : "outside";
    box.dataset.legal = String(clock.legal);
    $("clock-status").replaceChildren(...[
      el("span", { class: "clock-text" }, clock.text),
      clock.hint && el("span", { class: "clock-hint" }, clock.hint),
      clock.moved_text && el("span", { class: "clock-moved" }, clock.moved_text),
    ].filter(Boolean));
    $("clock-moves").hidden = !clock.can_move;
  }

  // The demo clock moves forward only; the scheduler ticks at once and its messages arrive by the poll.
  async function moveClock(move) {
    const answer = await post("/api/clock", { move });
    if (answer.error) toast(answer.error);
    if (answer.clock) region("clock", answer.clock, () => drawClock(answer.clock));
  }

  function region(name, data, drawRegion) {
    const key = JSON.stringify(data);
    if (drawn[name] === key) return;
    drawn[name] = key;
    drawRegion();
  }

  function draw(next) {
    state = next;
    region("clock", next.clock, () => drawClock(next.clock));
    const shownEphemerals = next.ephemerals.filter((e) => !dismissed.has(e.ts));
    region("channel", [next.messages, shownEphemerals], drawChannel);
    region("thread", [ui.thread, next.messages, next.threads[ui.thread], shownEphemerals], drawThread);
    region("home", next.home, drawHome);
    region("im", [next.im, shownEphemerals], drawIm);
    drawModal();
  }

  function redraw() {
    for (const name of ["channel", "thread", "home", "im"]) delete drawn[name];
    if (state) draw(state);
  }

  function openThread(ts) {
    ui.thread = ts;
    ui.replies = 0;
    redraw();
  }

  function showPane(pane) {
    ui.pane = pane;
    $("channel-pane").hidden = pane !== "channel";
    $("app-pane").hidden = pane !== "app";
    for (const item of document.querySelectorAll(".nav-item")) item.classList.toggle("active", item.dataset.pane === pane);
    $("composer-input").placeholder = pane === "app" ? tr("composer_app") : tr("composer", { channel: config.channel.name });
    if (pane === "app") showTab(ui.tab);
  }

  function showTab(tab) {
    ui.tab = tab;
    $("home").hidden = tab !== "home";
    $("im").hidden = tab !== "messages";
    for (const item of document.querySelectorAll("#app-tabs [role=tab]")) {
      item.setAttribute("aria-selected", String(item.dataset.tab === tab));
    }
    // Slack tells the app each time its Home tab is opened; the bot publishes the Home then.
    if (tab === "home") post("/api/home", {});
  }

  function actAs(user) {
    me = user;
    localStorage.setItem("m3-sandbox-user", user);
    $("act-as").value = user;
    ui.replies = 0; // the open thread stays open: the same channel, seen by someone else
    state = null;
    for (const name of Object.keys(drawn)) delete drawn[name];
    if (ui.pane === "app") showTab(ui.tab);
    poll();
  }

  async function command(event) {
    event.preventDefault();
    const input = $("composer-input");
    const text = input.value.trim();
    if (!text) return;
    const name = text.split(/\s+/)[0];
    if (!text.startsWith("/")) return toast(tr("only_commands"));
    if (!config.commands.includes(name)) return toast(tr("unknown_command", { command: name }));
    input.value = "";
    await post("/api/command", { text, in_app: ui.pane === "app" });
  }

  async function start() {
    config = await (await fetch("/api/config")).json();
    document.title = tr("title");
    $("workspace").textContent = tr("workspace");
    $("sandbox-note").textContent = tr("sandbox_note");
    $("act-as-label").textContent = tr("act_as");
    $("nav-channels").textContent = tr("channels");
    $("nav-apps").textContent = tr("apps");
    $("nav-channel").textContent = `# ${config.channel.name}`;
    $("nav-app").textContent = config.bot.name;
    $("channel-title").textContent = `# ${config.channel.name}`;
    $("channel-topic").textContent = tr("channel_topic");
    $("app-title").textContent = config.bot.name;
    $("tab-home").textContent = tr("home_tab");
    $("tab-messages").textContent = tr("messages_tab");
    $("thread-title").textContent = tr("thread");
    $("thread-close").setAttribute("aria-label", tr("close_thread"));
    $("composer-send").textContent = tr("send");
    $("clock-moves").setAttribute("aria-label", tr("clock_moves"));
    $("clock-moves").title = tr("clock_moves_hint");
    $("clock-hour").textContent = tr("clock_hour");
    $("clock-morning").textContent = tr("clock_morning");
    for (const item of document.querySelectorAll("#clock-moves [data-move]")) {
      item.addEventListener("click", () => moveClock(item.dataset.move));
    }
    $("act-as").replaceChildren(...config.users.map((user) =>
      el("option", { value: user.id }, `${user.real_name} — ${user.role_label}`)));

    $("act-as").addEventListener("change", (event) => actAs(event.target.value));
    for (const item of document.querySelectorAll(".nav-item")) item.addEventListener("click", () => showPane(item.dataset.pane));
    for (const item of document.querySelectorAll("#app-tabs [role=tab]")) item.addEventListener("click", () => showTab(item.dataset.tab));
    $("thread-close").addEventListener("click", () => openThread(null));
    $("composer").addEventListener("submit", command);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && state?.modal) post("/api/close", { view_id: state.modal.id });
    });

    const asked = new URLSearchParams(location.search).get("user") ?? localStorage.getItem("m3-sandbox-user");
    showPane("channel");
    actAs(config.users.some((user) => user.id === asked) ? asked : config.users[0].id);
  }

  start();
})();
