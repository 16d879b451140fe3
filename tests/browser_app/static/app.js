// The browser test app's script (see index.html). Served from the `static` directory.
//
// Requests go to absolute paths, so the app works from /app, /app/deep/link or any URL
// the API answers with the app (a browser reloading /minions). The token in the /login
// answer is deliberately ignored: every later request is authenticated by the
// session_id cookie alone, as SaltGUI-style apps and EventSource (which cannot send
// headers) need.
'use strict';

(function () {
  const CLOSED_TAG = 'salt/netapi/rest_ext/stream/closed';
  const RET_TAG = /^salt\/job\/(\d+)\/ret\/(.+)$/;
  const EVENTS_SHOWN = 15;
  const RET_WAIT_MS = 60000;
  const STATS_POLLS = 3;
  // > 1 s: every worker publishes its counters for the deployment's totals each second,
  // so behind a load balancer each poll's totals include the previous poll.
  const STATS_INTERVAL_MS = 1200;

  const state = {
    opened: false, // the EventSource has been open once
    logoutRequested: false,
    eventCount: 0,
    rets: [], // {jid, minion, ret} of every salt/job/<jid>/ret/<minion> event
    jid: null, // our test.ping's job id
    minions: [], // minions that answered our test.ping
    source: null,
  };

  const $ = (selector) => document.querySelector(selector);

  function log(text) {
    const time = new Date().toISOString().slice(11, 23);
    $('#log').append(`${time} ${text}\n`);
  }

  function stepState(name) {
    return document.querySelector(`#steps li[data-step="${name}"]`).dataset.state;
  }

  function step(name, ok, detail) {
    const item = document.querySelector(`#steps li[data-step="${name}"]`);
    item.dataset.state = ok ? 'ok' : 'error';
    item.querySelector('span').textContent = detail;
    log(`${name}: ${ok ? 'OK' : 'FAILED'} ${detail}`);
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // One API call. A string body makes the browser send Content-Type
  // text/plain;charset=UTF-8 (no header is set here), which the API must read as JSON;
  // same-origin credentials send the session_id cookie.
  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = text;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      // not JSON: keep the text
    }
    return { status: response.status, data };
  }

  function setButtons(loggedIn) {
    $('#login-btn').disabled = loggedIn;
    $('#ping-btn').disabled = !loggedIn;
    $('#stats-btn').disabled = !loggedIn;
    $('#logout-btn').disabled = !loggedIn;
  }

  // -- login ---------------------------------------------------------------------
  async function login(event) {
    event.preventDefault();
    const credentials = {
      username: $('#username').value,
      password: $('#password').value,
      eauth: $('#eauth').value,
    };
    $('#password').value = '';
    let answer;
    try {
      answer = await api('POST', '/login', credentials);
    } catch (err) {
      step('login', false, `fetch failed: ${err}`);
      return;
    }
    if (answer.status !== 200) {
      step('login', false, `HTTP ${answer.status} ${JSON.stringify(answer.data)}`);
      return;
    }
    const record = answer.data.return[0];
    const lifetime = Math.round(record.expire - Date.now() / 1000);
    step('login', true, `HTTP 200 user=${record.user} eauth=${record.eauth} expires in ${lifetime}s`);
    $('#session').dataset.user = record.user;
    $('#session').textContent = `logged in as ${record.user} (${record.eauth}); cookie session`;

    const readable = document.cookie.split(';').some((c) => c.trim().startsWith('session_id='));
    step('cookie', !readable, readable ? 'session_id is readable by JavaScript'
      : 'session_id is not in document.cookie');
    setButtons(true);
    openEvents();
  }

  // -- events --------------------------------------------------------------------
  function openEvents() {
    const source = new EventSource('/events');
    state.source = source;
    source.onopen = () => {
      if (!state.opened) {
        state.opened = true;
        step('events', true, `GET /events open (readyState=${source.readyState})`);
      } else {
        log('EventSource reconnected');
      }
    };
    source.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (err) {
        log(`unparsable SSE data: ${message.data}`);
        return;
      }
      onEvent(event, message.lastEventId);
    };
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) {
        log(`EventSource error, readyState=${source.readyState} (the browser reconnects)`);
      } else if (!state.opened) {
        step('events', false, 'GET /events refused (readyState=2)');
      } else {
        step('stream-ended', state.logoutRequested,
          `readyState=2 (CLOSED)${state.logoutRequested ? ': reconnect refused after logout'
            : ' before logout'}`);
      }
    };
  }

  function onEvent(event, id) {
    state.eventCount += 1;
    const counter = $('#event-count');
    counter.dataset.count = String(state.eventCount);
    counter.textContent = String(state.eventCount);

    const item = document.createElement('li');
    // lastEventId: the stream's last id: line (kept by the browser across id-less messages)
    item.textContent = id ? `${event.tag}  (last-event-id ${id})` : event.tag;
    item.dataset.tag = event.tag;
    const list = $('#events');
    list.prepend(item);
    while (list.children.length > EVENTS_SHOWN) {
      list.lastChild.remove();
    }

    if (event.tag === CLOSED_TAG) {
      const data = event.data || {};
      step('stream-closed', state.logoutRequested,
        `${CLOSED_TAG} reason=${data.reason} code=${data.code}`);
      return;
    }
    const match = RET_TAG.exec(event.tag || '');
    if (match) {
      const data = event.data || {};
      state.rets.push({ jid: match[1], minion: match[2], ret: data.return });
      checkRets();
    }
  }

  // Have the ret events of our own test.ping arrived (one per minion that answered)?
  function checkRets() {
    if (!state.jid || stepState('ret-events') !== 'pending') {
      return;
    }
    const mine = state.rets.filter((r) => r.jid === state.jid);
    const seen = new Map(mine.map((r) => [r.minion, r.ret]));
    if (state.minions.every((m) => seen.has(m))) {
      const tags = state.minions.map((m) => `salt/job/${state.jid}/ret/${m}=${seen.get(m)}`);
      step('ret-events', state.minions.every((m) => seen.get(m) === true), tags.join(' '));
    }
  }

  // -- test.ping -----------------------------------------------------------------
  async function ping() {
    $('#ping-btn').disabled = true;
    const chunk = { client: 'local', tgt: '*', fun: 'test.ping', full_return: true };
    const answer = await api('POST', '/', [chunk]);
    $('#ping-btn').disabled = false;
    if (answer.status !== 200) {
      step('ping', false, `HTTP ${answer.status} ${JSON.stringify(answer.data)}`);
      return;
    }
    const result = answer.data.return[0] || {};
    const minions = Object.keys(result).sort();
    const jids = new Set(minions.map((m) => result[m].jid));
    const body = $('#returns tbody');
    body.replaceChildren();
    for (const minion of minions) {
      const row = document.createElement('tr');
      row.dataset.minion = minion;
      for (const text of [minion, JSON.stringify(result[minion].ret), result[minion].jid]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }
    const ok = minions.length > 0 && jids.size === 1 && minions.every((m) => result[m].ret === true);
    const jid = [...jids][0];
    step('ping', ok, `HTTP 200 jid=${jid} ${minions.map((m) => `${m}=${result[m].ret}`).join(' ')}`);
    if (!ok) {
      return;
    }
    state.jid = jid;
    state.minions = minions;
    checkRets();
    setTimeout(() => {
      if (stepState('ret-events') === 'pending') {
        const got = state.rets.filter((r) => r.jid === jid).map((r) => r.minion);
        step('ret-events', false, `after ${RET_WAIT_MS} ms only from: ${got.join(', ') || 'none'}`);
      }
    }, RET_WAIT_MS);
  }

  // -- /stats --------------------------------------------------------------------
  // Behind a load balancer each poll may reach another API: the deployment's totals
  // (summed over every worker of every master) are what grows; one API alone has them too.
  function counters(stats) {
    const totals = (stats.deployment || {}).totals;
    if (totals && (totals.requests || totals.served !== undefined)) {
      return totals.requests || totals;
    }
    return stats.requests || {};
  }

  async function pollStats() {
    $('#stats-btn').disabled = true;
    const served = [];
    let last = null;
    for (let poll = 1; poll <= STATS_POLLS; poll += 1) {
      const answer = await api('GET', '/stats');
      if (answer.status !== 200) {
        step('stats', false, `poll ${poll}: HTTP ${answer.status} ${JSON.stringify(answer.data)}`);
        return;
      }
      last = answer.data;
      const requests = counters(last);
      served.push(requests.served);
      log(`GET /stats #${poll}: HTTP 200 uptime=${last.uptime}s served=${requests.served} ` +
        `streams=${requests.streams}`);
      if (poll < STATS_POLLS) {
        await sleep(STATS_INTERVAL_MS);
      }
    }
    $('#stats-btn').disabled = false;
    const growing = served.every((n, i) => i === 0 || n > served[i - 1]);
    const streams = counters(last).streams;
    step('stats', growing,
      `${STATS_POLLS} polls, HTTP 200; requests served ${served.join(' → ')}; open streams ${streams}`);
  }

  // -- logout --------------------------------------------------------------------
  async function logout() {
    state.logoutRequested = true;
    setButtons(false);
    $('#login-btn').disabled = true;
    const answer = await api('POST', '/logout');
    step('logout', answer.status === 200,
      `HTTP ${answer.status} ${JSON.stringify(answer.data && answer.data.return)}`);
    $('#session').dataset.user = '';
    $('#session').textContent = 'logged out';
    const stats = await api('GET', '/stats');
    step('stats-after-logout', stats.status === 401, `GET /stats: HTTP ${stats.status}`);
  }

  // -- start ---------------------------------------------------------------------
  $('#login-form').addEventListener('submit', login);
  $('#ping-btn').addEventListener('click', ping);
  $('#stats-btn').addEventListener('click', pollStats);
  $('#logout-btn').addEventListener('click', logout);
  $('#where').textContent = `served at ${location.pathname}; script from /static/app.js`;
  $('#where').dataset.path = location.pathname;
  document.body.dataset.ready = '1';
  log(`app loaded at ${location.href}`);
})();
