-- sqlite3 on an in-memory database: create, insert many rows, index,
-- query, group by, join, update, delete, vacuum.  Values come from
-- arithmetic on the row number, not random(), so output is deterministic.
PRAGMA cache_size = -20000;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, blob BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
INSERT INTO t(id, grp, name, val, blob)
SELECT x, (x * 7919) % 97,
       printf('name-%d-%s', (x * 104729) % 100003, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 1 + x % 13)),
       ((x * 2654435761) % 1000003) / 7.0,
       zeroblob(x % 300)
FROM c;
SELECT count(*), sum(grp), round(sum(val), 2), sum(length(blob)) FROM t;
CREATE INDEX t_grp ON t(grp);
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp_val ON t(grp, val DESC);
SELECT grp, count(*), round(avg(val), 3), min(name), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 12;
SELECT name, count(*) AS n FROM t GROUP BY name HAVING n > 2 ORDER BY n DESC, name LIMIT 10;
SELECT id, name FROM t WHERE name LIKE 'name-5000%' ORDER BY id;
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 96)
INSERT INTO g SELECT x, 'group ' || x FROM c;
SELECT g.label, count(t.id), round(max(t.val), 2)
  FROM g JOIN t ON t.grp = g.grp
 WHERE t.val > 1000 GROUP BY g.grp ORDER BY count(t.id) DESC, g.grp LIMIT 8;
UPDATE t SET name = upper(name), val = val * 2 WHERE grp % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), count(DISTINCT name), round(sum(val), 2) FROM t;
SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY val DESC, id LIMIT 20);
CREATE TABLE s AS SELECT grp, group_concat(name) AS names FROM t GROUP BY grp;
SELECT grp, length(names) FROM s ORDER BY length(names) DESC, grp LIMIT 5;
SELECT count(*) FROM (SELECT DISTINCT substr(name, 1, 8) FROM t);
WITH RECURSIVE fib(a, b, n) AS (SELECT 0, 1, 0 UNION ALL SELECT b, a + b, n + 1 FROM fib WHERE n < 80)
SELECT max(a) FROM fib;
VACUUM;
PRAGMA integrity_check;
