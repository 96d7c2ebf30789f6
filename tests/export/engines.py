#!/usr/bin/env python3
"""The lab's queries on a `tplog export` table, run by a real engine.

Reads a job on stdin (JSON) and prints the answers as JSON on stdout, for
tests/tplog_export.rs to compare with tplog's own answers on the log.

    {"engine": "spark" | "duckdb",
     "datasets": [{"name": "...", "dir": "...", "malformed": "..." | null,
                   "queries": [{"name": "...", "kind": "ips" | "days" | "status"
                                | "stats" | "prune" | "rows" | "files",
                                "page": "truc.html", "ip": "...",
                                "from": "2014-02-08T07:00:00", "to": "...",
                                "day": "2014-02-08"}]}]}

Answers: {dataset: {query: answer}} plus "times" (seconds per query) and
"startup" (seconds to start the engine). Group answers are [[key, count]]
sorted by key, keys written as tplog writes them (days as 08/Feb/2014).

Times in the table are UTC (`ts`); tplog's --from/--to/--day and its day
keys are the log's wall-clock time, which is `ts` plus `tz_offset_min`:
the SQL below says so as `local` (seconds since the epoch, wall-clock).
A window also names the partitions it can touch (its days, one either
side for the offsets), which is what lets the engine prune.
"""

import calendar
import datetime as dt
import json
import sys
import time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def wall(s):
    """2014-02-08T07:00:00 -> seconds since the epoch, as if UTC."""
    return calendar.timegm(dt.datetime.fromisoformat(s).timetuple())


def day_key(day_number):
    d = dt.date(1970, 1, 1) + dt.timedelta(days=int(day_number))
    return "%02d/%s/%04d" % (d.day, MONTHS[d.month - 1], d.year)


def clock(secs):
    t = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(secs))
    return "%02d/%s/%04d:%02d:%02d:%02d" % (
        t.day, MONTHS[t.month - 1], t.year, t.hour, t.minute, t.second)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class Engine:
    """What differs between the engines: the wall-clock seconds, running SQL."""

    local = None

    def where(self, q):
        conds = []
        if q.get("page"):
            p = q["page"]
            if p.startswith("/"):
                conds.append("path = " + sql_str(p))
            else:
                conds.append("path LIKE " + sql_str("%/" + p))
        if q.get("ip"):
            conds.append("client = " + sql_str(q["ip"]))
        if q.get("from") or q.get("to"):
            lo = wall(q["from"]) if q.get("from") else -(2 ** 62)
            hi = wall(q["to"]) if q.get("to") else 2 ** 62
            conds.append("%s BETWEEN %d AND %d" % (self.local, lo, hi))
            # The partitions the window can touch: offsets are within +-1 day.
            if q.get("from"):
                d = dt.date.fromisoformat(q["from"][:10]) - dt.timedelta(days=1)
                conds.append("date >= DATE '%s'" % d.isoformat())
            if q.get("to"):
                d = dt.date.fromisoformat(q["to"][:10]) + dt.timedelta(days=1)
                conds.append("date <= DATE '%s'" % d.isoformat())
        return (" WHERE " + " AND ".join(conds)) if conds else ""

    def group(self, q, key):
        return self.rows("SELECT %s AS k, count(*) AS n FROM t%s GROUP BY 1" % (key, self.where(q)))

    def answer(self, q, malformed):
        kind = q["kind"]
        if kind == "ips":
            return sorted([r[0], r[1]] for r in self.group(q, "client"))
        if kind == "status":
            return sorted(["%03d" % r[0], r[1]] for r in self.group(q, "status"))
        if kind == "days":
            return sorted(([day_key(r[0]), r[1]] for r in self.group(q, "floor(%s / 86400)" % self.local)),
                          key=lambda kv: dt.datetime.strptime(kv[0], "%d/%b/%Y"))
        if kind == "stats":
            r = self.rows(
                "SELECT count(*), count(DISTINCT client), count(DISTINCT path), sum(bytes), "
                "count(*) - count(bytes), min(%s), max(%s) FROM t%s" % (self.local, self.local, self.where(q)))[0]
            out = {"requests": r[0], "distinct_ips": r[1], "distinct_pages": r[2],
                   "bytes_total": int(r[3] or 0), "bytes_unknown": r[4],
                   "first": clock(r[5]) if r[5] is not None else None,
                   "last": clock(r[6]) if r[6] is not None else None}
            if malformed:
                out["malformed"] = self.count_malformed(malformed)
            return out
        if kind == "prune":
            return self.prune(q["day"])
        if kind == "rows":
            cols = ("client, ident, user, method, path, target, query, protocol, status, bytes, "
                    "referer, agent, vhost, port, request_time_us, tls_protocol, file, line, "
                    "%s AS ts_us, tz_offset_min, %s AS raw_hex, CAST(date AS STRING) AS date"
                    % (self.ts_us, self.raw_hex))
            names = [c.strip().split(" AS ")[-1] for c in cols.split(", ")]
            rows = self.rows("SELECT %s FROM t ORDER BY file, line" % cols)
            return [dict(zip(names, [v if not isinstance(v, float) else int(v) for v in r])) for r in rows]
        if kind == "malformed_rows":
            return self.malformed_rows(malformed)
        raise SystemExit("unknown query kind %r" % kind)


class Spark(Engine):
    local = "(unix_seconds(ts) + tz_offset_min * 60)"
    ts_us = "unix_micros(ts)"
    raw_hex = "lower(hex(raw))"

    def __init__(self):
        from pyspark.sql import SparkSession
        self.spark = (
            SparkSession.builder.master("local[2]")
            .appName("tplog-export-test")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "4")
            # The scan's own metrics (files read) are read from the plan.
            .config("spark.sql.adaptive.enabled", "false")
            .config("spark.driver.memory", "1g")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")

    def use(self, d):
        self.dir = d
        self.spark.read.parquet(d).createOrReplaceTempView("t")

    def rows(self, sql):
        return [tuple(r) for r in self.spark.sql(sql).collect()]

    def count_malformed(self, m):
        return self.spark.read.parquet(m).count()

    def malformed_rows(self, m):
        df = self.spark.read.parquet(m).orderBy("file", "line")
        return [{"file": r["file"], "line": r["line"], "reason": r["reason"], "col": r["col"],
                 "excerpt_hex": bytes(r["excerpt"]).hex(), "excerpt_text": r["excerpt_text"]}
                for r in df.collect()]

    def prune(self, day):
        df = self.spark.sql("SELECT count(*) FROM t WHERE date = DATE '%s'" % day)
        n = df.collect()[0][0]
        plan = df._jdf.queryExecution().executedPlan()
        text = plan.toString()
        leaves = plan.collectLeaves()
        files_read = None
        for i in range(leaves.length()):
            leaf = leaves.apply(i)
            m = leaf.metrics().get("numFiles")
            if m.isDefined():
                files_read = int(m.get().value())
        total = len(self.spark.read.parquet(self.dir).inputFiles())
        pf = [l.strip() for l in text.splitlines() if "PartitionFilters" in l]
        return {"rows": n, "files_read": files_read, "files_total": total,
                "partition_filters": "PartitionFilters: [" in text and "date" in text.split("PartitionFilters: [")[1].split("]")[0],
                "plan": pf[0][:400] if pf else text[:400]}


class Duck(Engine):
    local = "(epoch_us(ts) // 1000000 + tz_offset_min * 60)"
    ts_us = "epoch_us(ts)"
    raw_hex = "lower(hex(raw))"

    def __init__(self):
        import duckdb
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET threads = 2")

    def src(self, d):
        return "read_parquet(%s, hive_partitioning = true)" % sql_str(d.rstrip("/") + "/**/*.parquet")

    def use(self, d):
        self.dir = d
        self.con.execute("CREATE OR REPLACE VIEW t AS SELECT * FROM %s" % self.src(d))

    def rows(self, sql):
        sql = sql.replace("AS STRING)", "AS VARCHAR)")
        return [tuple(r) for r in self.con.execute(sql).fetchall()]

    def count_malformed(self, m):
        return self.con.execute("SELECT count(*) FROM read_parquet(%s)" % sql_str(m + "/*.parquet")).fetchone()[0]

    def malformed_rows(self, m):
        rows = self.con.execute(
            "SELECT file, line, reason, col, lower(hex(excerpt)), excerpt_text FROM read_parquet(%s) ORDER BY file, line"
            % sql_str(m + "/*.parquet")).fetchall()
        return [{"file": r[0], "line": r[1], "reason": r[2], "col": r[3], "excerpt_hex": r[4], "excerpt_text": r[5]}
                for r in rows]

    def prune(self, day):
        q = "SELECT count(*) FROM %s WHERE date = DATE '%s'" % (self.src(self.dir), day)
        n = self.con.execute(q).fetchone()[0]
        plan = "\n".join(r[1] for r in self.con.execute("EXPLAIN ANALYZE " + q).fetchall())
        total = self.con.execute("SELECT count(DISTINCT filename) FROM read_parquet(%s, filename = true)"
                                 % sql_str(self.dir.rstrip("/") + "/**/*.parquet")).fetchone()[0]
        files_read = None
        for line in plan.splitlines():
            # DuckDB's profile: "Scanning Files: 1/3" (files read / files listed).
            if "Scanning Files" in line:
                part = line.split("Scanning Files:")[1].strip(" │|")
                files_read = int(part.split("/")[0].strip())
        return {"rows": n, "files_read": files_read, "files_total": total,
                "partition_filters": "File Filters" in plan or files_read is not None,
                "plan": "\n".join(l for l in plan.splitlines() if "File" in l)[:400]}


def main():
    job = json.load(sys.stdin)
    t0 = time.time()
    eng = Spark() if job["engine"] == "spark" else Duck()
    out = {"startup": time.time() - t0, "times": {}}
    for ds in job["datasets"]:
        eng.use(ds["dir"])
        res = {}
        for q in ds["queries"]:
            t = time.time()
            res[q["name"]] = eng.answer(q, ds.get("malformed"))
            out["times"]["%s/%s" % (ds["name"], q["name"])] = time.time() - t
        out[ds["name"]] = res
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
