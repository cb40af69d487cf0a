// CalDAV write with tsdav (the CalDAV client of many JavaScript calendar apps) against a real
// node (issue 22): account discovery with Basic auth, createCalendarObject,
// updateCalendarObject with the ETag it holds, deleteCalendarObject, and smartCollectionSync
// (sync-collection) seeing each change: the created, the updated and the deleted object.
//
// Usage: node check_caldav_write.mjs NODE_URL ACCOUNT PASSWORD
import { calendarMultiGet, createDAVClient } from "tsdav";

const [base, username, password] = process.argv.slice(2);
const failures = [];
const check = (cond, msg) => {
  if (!cond) {
    failures.push(msg);
    console.error("FAIL:", msg);
  }
};

const client = await createDAVClient({
  serverUrl: `${base}/dav/principal/${username}/`,
  credentials: { username, password },
  authMethod: "Basic",
  defaultAccountType: "caldav",
});
const calendars = await client.fetchCalendars();
const mine = calendars.find((c) => c.url.endsWith(`/dav/calendars/users/${username}/`));
check(mine, `the account's calendar among ${calendars.map((c) => c.url)}`);
check(calendars.some((c) => c.url.endsWith("/dav/calendars/all/")), "the shared calendar too");

const run = Math.random().toString(16).slice(2, 10);
const uid = `tsdav-${run}@example.org`;
const ics = (summary) =>
  [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//interop//tsdav//EN",
    "BEGIN:VEVENT",
    `UID:${uid}`,
    "DTSTAMP:20261201T120000Z",
    "DTSTART;TZID=Europe/Berlin:20270511T183000",
    "DTEND;TZID=Europe/Berlin:20270511T203000",
    `SUMMARY:${summary}`,
    "END:VEVENT",
    "END:VCALENDAR",
    "",
  ].join("\r\n");

// The app's copy of the calendar, then each change seen by the next sync.
// As tsdav's documentation has it, the collection brings the multiget its sync uses.
let local = {
  ...mine,
  objectMultiGet: calendarMultiGet,
  objects: await client.fetchCalendarObjects({ calendar: mine }),
};
const sync = async () => {
  const r = await client.smartCollectionSync({ collection: local, method: "webdav", detailedResult: true });
  const { created, updated, deleted } = r.objects;
  local = { ...r, objectMultiGet: calendarMultiGet, objects: [...local.objects.filter((o) => !deleted.some((d) => d.url === o.url) && !updated.some((u) => u.url === o.url)), ...created, ...updated] };
  return r.objects;
};

const created = await client.createCalendarObject({
  calendar: mine,
  filename: `${uid}.ics`,
  iCalString: ics(`tsdav planning ${run}`),
});
check(created.status === 201, `createCalendarObject: ${created.status}`);
// The node adds its lines to what it stores, so no ETag comes back (RFC 9110 §9.3.4): the
// object is fetched again by the next sync.
check(!created.headers.get("etag"), "no ETag for an object stored other than sent");
let delta = await sync();
const made = delta.created.find((o) => o.url.endsWith(`${encodeURIComponent(uid)}.ics`) || o.data?.includes(uid));
check(made && made.data.includes(`tsdav planning ${run}`), `sync sees the new object: ${JSON.stringify(delta.created.map((o) => o.url))}`);

const obj = local.objects.find((o) => o.data?.includes(uid));
const updated = await client.updateCalendarObject({
  calendarObject: { url: obj.url, etag: obj.etag, data: obj.data.replace(`tsdav planning ${run}`, `tsdav planning ${run}, room 2`) },
});
check(updated.status === 204, `updateCalendarObject: ${updated.status}`);
// The same update with the old ETag is a conflict.
const stale = await client.updateCalendarObject({
  calendarObject: { url: obj.url, etag: obj.etag, data: obj.data },
});
check(stale.status === 412, `update with a stale ETag: ${stale.status}`);
delta = await sync();
const changed = delta.updated.find((o) => o.url === obj.url);
check(changed && changed.data.includes("room 2"), `sync sees the update: ${JSON.stringify(delta)}`);
check(changed && changed.data.includes("X-REVISION:1"), "the update is revision 1");

const current = local.objects.find((o) => o.url === obj.url);
const deleted = await client.deleteCalendarObject({ calendarObject: { url: current.url, etag: current.etag } });
check(deleted.status === 204, `deleteCalendarObject: ${deleted.status}`);
delta = await sync();
check(delta.deleted.some((o) => o.url === obj.url), `sync sees the deletion: ${JSON.stringify(delta.deleted)}`);
check(!local.objects.some((o) => o.url === obj.url), "the app's copy no longer holds it");

const feed = await (await fetch(`${base}/feed.ics`)).text();
check(feed.includes(`UID:${uid}`) && /STATUS:CANCELLED/.test(feed.split(`UID:${uid}`)[1].split("END:VEVENT")[0]), "the node's feed shows the cancellation");

if (failures.length) {
  console.log(failures.join("\n"));
  process.exit(1);
}
console.log("tsdav: create, update (and a 412 with a stale ETag), delete, each seen by smartCollectionSync");
