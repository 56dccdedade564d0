"""Alerts (issue #14): operators are told when mail is failing, without watching the
console. The monitor evaluates conditions (doctor findings from the database every
minute, the whole doctor on a schedule); a condition changing state is an alert, stored
first (an outbox of notifications) and then sent through apprise to each configured URL,
with retries. See docs/alerts.md."""
