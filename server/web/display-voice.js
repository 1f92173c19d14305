// Lượt lobby display: what a call sounds like — the sentence in Vietnamese, a chime, the
// browser's own voice — and the queue that says calls one at a time, never over each other.
"use strict";

const LuotVoice = (() => {
  const DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"];

  /** A whole number in Vietnamese words, as the counter's number is read ("mười lăm"). */
  function numberWords(n) {
    if (!Number.isInteger(n) || n < 0 || n > 999) return String(n).split("").map((d) => DIGITS[d] || d).join(" ");
    if (n < 10) return DIGITS[n];
    const hundreds = Math.floor(n / 100), tens = Math.floor(n / 10) % 10, units = n % 10;
    const words = [];
    if (hundreds) words.push(DIGITS[hundreds], "trăm");
    if (tens === 0) {
      if (units) words.push("linh", DIGITS[units]);
    } else {
      words.push(tens === 1 ? "mười" : `${DIGITS[tens]} mươi`);
      if (units === 1 && tens > 1) words.push("mốt");
      else if (units === 5) words.push("lăm");
      else if (units) words.push(DIGITS[units]);
    }
    return words.join(" ");
  }

  /** The spoken sentence: the ticket digit by digit, the counter as a number. */
  function sentence(call) {
    const digits = call.ticket.number.split("").map((d) => (/[0-9]/.test(d) ? DIGITS[Number(d)] : d)).join(" ");
    return `Mời công dân có số ${digits} đến quầy số ${numberWords(call.counter)}`;
  }

  /**
   * The queue that says calls one at a time: a chime, then the voice. What it plays goes to
   * `exposed.announced`; `exposed.audio` is "running", "locked" (until a touch) or "none", and
   * `onAudio` hears every change of it.
   */
  function announcer({ exposed, push, wallMs, maxQueue, onAudio }) {
    const queue = [];
    let playing = false;
    let ctx = null;
    let voice = null;

    function context() {
      if (ctx) return ctx;
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) { exposed.audio = "none"; return null; }
      try { ctx = new AC(); } catch (e) { exposed.audio = "none"; return null; }
      ctx.addEventListener("statechange", audioState);
      return ctx;
    }

    /** The browser may keep audio off until someone touches the screen: say so on screen. */
    function audioState() {
      if (exposed.audio !== "none") exposed.audio = ctx && ctx.state === "running" ? "running" : "locked";
      onAudio(exposed.audio);
    }

    function unlock() {
      const c = context();
      if (c && c.state !== "running") c.resume().then(audioState, audioState);
      audioState();
    }

    function pickVoice() {
      if (!("speechSynthesis" in window)) return;
      const voices = speechSynthesis.getVoices();
      const vi = (v) => (v.lang || "").toLowerCase().replace("_", "-");
      voice = voices.find((v) => vi(v) === "vi-vn") || voices.find((v) => vi(v).startsWith("vi")) || null;
      exposed.voice = voice ? voice.name : null;
    }

    const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

    /** Two soft notes, "ding-dong"; resolves when they have rung. */
    function chime() {
      const c = context();
      if (!c || c.state !== "running") return wait(300).then(() => false);
      const start = c.currentTime + 0.05;
      for (const [i, freq] of [[0, 784], [1, 587]]) {
        const osc = c.createOscillator();
        const gain = c.createGain();
        osc.type = "sine";
        osc.frequency.value = freq;
        const t = start + i * 0.55;
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.35, t + 0.03);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.9);
        osc.connect(gain).connect(c.destination);
        osc.start(t);
        osc.stop(t + 0.95);
      }
      return wait(1500).then(() => true);
    }

    /** Speaks through the browser's voice when it has a Vietnamese one; resolves when done. */
    function speak(text) {
      if (!voice || !("speechSynthesis" in window)) return Promise.resolve(false);
      return new Promise((resolve) => {
        const u = new SpeechSynthesisUtterance(text);
        u.lang = voice.lang || "vi-VN";
        try { u.voice = voice; } catch (e) { /* not a voice object of this browser: the lang picks one */ }
        u.rate = 0.9;
        // Some browsers never fire `end`: do not let one utterance stall the queue.
        const guard = setTimeout(() => { speechSynthesis.cancel(); resolve(false); }, 15000);
        const done = (ok) => () => { clearTimeout(guard); resolve(ok); };
        u.onend = done(true);
        u.onerror = done(false);
        speechSynthesis.speak(u);
      });
    }

    async function run() {
      playing = true;
      while (queue.length) {
        const item = queue.shift();
        exposed.queued = queue.length;
        const text = sentence(item.call);
        const record = {
          key: item.key, number: item.call.ticket.number, counter: item.call.counter,
          recall: !!item.call.recall, at: item.call.at, text, started: wallMs(),
          sound: exposed.audio === "running", voice: exposed.voice,
        };
        push(exposed.announced, record);
        record.chimed = await chime();
        record.spoken = await speak(text);
        record.ended = wallMs();
        await wait(500);
      }
      playing = false;
    }

    function enqueue(call, key) {
      if (queue.length >= maxQueue) {
        // Only a burst far beyond any counter's pace gets here; the screen still shows them.
        console.warn("announcement queue full; not announcing", call.ticket.number);
        return;
      }
      queue.push({ call, key });
      exposed.queued = queue.length;
      if (!playing) run();
    }

    context();
    audioState();
    pickVoice();
    if ("speechSynthesis" in window) speechSynthesis.addEventListener("voiceschanged", pickVoice);
    for (const ev of ["pointerdown", "touchstart", "keydown", "click"]) document.addEventListener(ev, unlock, { passive: true });
    return { enqueue };
  }

  return { numberWords, sentence, announcer };
})();
