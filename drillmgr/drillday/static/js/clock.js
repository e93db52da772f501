// m:ss (or h:mm:ss) of a number of seconds, for the stopwatch.
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

export function format(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_m, name) => String(values[name] ?? ""));
}
