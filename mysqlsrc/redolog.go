package mysqlsrc

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// Redo logging switched off. ALTER INSTANCE DISABLE INNODB REDO_LOG (for bulk loads) makes
// the server write pages without redo; such pages keep the LSN at which logging stopped, so
// once logging is back on nothing on disk tells them apart: neither the tracked page list nor
// a page-LSN scan finds them, and a backup taken while logging is off has no redo to make its
// pages consistent. So a backup refuses while logging is off, and an incremental trusts its
// base only when the server's error log proves logging stayed on since the base.
//
// ALTER INSTANCE … INNODB REDO_LOG waits for the backup lock (measured: "Waiting for backup
// lock", then error 1205), so Innodb_redo_log_enabled read under the lock holds until the
// lock is released. Every switch is logged (measured codes below); performance_schema.error_log
// keeps the newest entries in a ring of performance_schema_error_size entries that a restart
// empties, so it proves "no switch since the base" only when the server has not restarted,
// its oldest entry is older than the base, and the error log settings let the entry through.
// Across a restart the error log file takes its place (errlogfile.go); both sources go
// through one rule, errorLogEvidence.reason.

// Error codes MySQL 9.7.4 logs (as Warning, subsystem InnoDB) when redo logging is switched.
const (
	erRedoLogDisabled = "MY-014088" // "InnoDB redo logging is disabled. … Current lsn is N."
	erRedoLogEnabled  = "MY-013601" // "InnoDB redo logging is enabled. Data is now safe …"
)

// disabledLSN finds the LSN a "redo logging is disabled" entry names.
var disabledLSN = regexp.MustCompile(`Current lsn is (\d+)`)

// checkRedoLogging refuses a backup while redo logging is off. Call it under the backup lock:
// the answer then holds until the lock is released.
func checkRedoLogging(ctx context.Context, q querier) error {
	var enabled string
	err := q.QueryRowContext(ctx, "SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Innodb_redo_log_enabled'").Scan(&enabled)
	if err != nil {
		return fmt.Errorf("reading Innodb_redo_log_enabled: %w", err)
	}
	if !strings.EqualFold(enabled, "ON") {
		return shared.Precondition(fmt.Sprintf("redo logging is disabled on the server (Innodb_redo_log_enabled = %s, after ALTER INSTANCE DISABLE INNODB REDO_LOG): "+
			"changes are not in the redo log, so no backup of this server can be made consistent; as an administrator run ALTER INSTANCE ENABLE INNODB REDO_LOG, "+
			"then back up again (an incremental on an older base will copy every page)", enabled))
	}
	return nil
}

// serverClockMicros reads the server's clock, in microseconds since the epoch: the clock the
// error log stamps its entries with. q's session time zone must be UTC (see useUTC).
func serverClockMicros(ctx context.Context, q querier) (int64, error) {
	var us int64
	if err := q.QueryRowContext(ctx, "SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)").Scan(&us); err != nil {
		return 0, fmt.Errorf("reading the server's clock: %w", err)
	}
	return us, nil
}

// useUTC sets q's session time zone to UTC, so that converting the error log's TIMESTAMP
// column to Unix time is exact (a zone with daylight saving repeats an hour).
func useUTC(ctx context.Context, q querier) error {
	_, err := q.ExecContext(ctx, "SET SESSION time_zone = '+00:00'")
	return err
}

// redoSwitchReason says why the error log cannot prove that redo logging stayed on since the
// base (so the incremental must copy everything), or "". q holds the backup lock. With
// restartBridged (the redo tracker watched redo logging across a server restart, bitmaps.go)
// the ring need not reach back to the base, which the restart made impossible; the switches
// it still holds are checked all the same, and the caller then asks the error log file
// (errorLogFileReason), which must reach back.
func redoSwitchReason(ctx context.Context, q querier, base *sourceState, restartBridged bool) (string, error) {
	if base.RedoLoggingOnAt == 0 {
		return "the base backup was taken by a plugin that did not record when it saw redo logging on, so a switch of redo logging since cannot be ruled out", nil
	}
	if reason, err := errorLogSettingsReason(ctx, q); reason != "" || err != nil {
		return reason, err
	}
	var oldest sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT CAST(UNIX_TIMESTAMP(MIN(LOGGED)) * 1000000 AS SIGNED) FROM performance_schema.error_log").Scan(&oldest); err != nil {
		return "", errorLogError(err)
	}
	rows, err := q.QueryContext(ctx, `SELECT CAST(UNIX_TIMESTAMP(LOGGED) * 1000000 AS SIGNED), ERROR_CODE, DATA
		FROM performance_schema.error_log WHERE ERROR_CODE IN (?, ?) ORDER BY LOGGED`, erRedoLogDisabled, erRedoLogEnabled)
	if err != nil {
		return "", errorLogError(err)
	}
	defer rows.Close()
	var switches []errorLogEntry
	for rows.Next() {
		var e errorLogEntry
		if err := rows.Scan(&e.at, &e.code, &e.data); err != nil {
			return "", err
		}
		switches = append(switches, e)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	ring := errorLogEvidence{source: "performance_schema.error_log", oldest: oldest, switches: switches,
		lostBy: "the server restarted, or the ring of performance_schema_error_size entries wrapped"}
	return ring.reason(base, !restartBridged), nil
}

// errorLogEntry is one redo logging switch entry of the error log, from either of its sources.
type errorLogEntry struct {
	at         int64 // µs since the epoch
	code, data string
}

// errorLogEvidence is what one source of the error log (performance_schema.error_log, or the
// error log file, errlogfile.go) holds: the time of its oldest entry and its switch entries.
type errorLogEvidence struct {
	source   string
	oldest   sql.NullInt64
	switches []errorLogEntry
	lostBy   string // how this source comes not to reach back
}

// reason is the one rule both sources go through: they prove that redo logging stayed on since
// the base when they reach back past it (asked only with mustReach) and hold no switch entry
// that may lie after it (switchSinceBase); otherwise reason says why not.
func (ev errorLogEvidence) reason(base *sourceState, mustReach bool) string {
	if mustReach && (!ev.oldest.Valid || ev.oldest.Int64 >= base.RedoLoggingOnAt) {
		return fmt.Sprintf("%s does not reach back to the base (its oldest entry is from %s, the base from %s: %s), so a switch of redo logging since cannot be ruled out",
			ev.source, microsString(ev.oldest), microsString(sql.NullInt64{Int64: base.RedoLoggingOnAt, Valid: true}), ev.lostBy)
	}
	for _, e := range ev.switches {
		if switchSinceBase(e.at, e.code, e.data, base) {
			return fmt.Sprintf("redo logging was switched off since the base (%s: %s at %s: %q): pages changed meanwhile are in neither the redo log nor the tracked page list, so every page is copied",
				ev.source, e.code, microsString(sql.NullInt64{Int64: e.at, Valid: true}), e.data)
		}
	}
	return ""
}

// switchSinceBase reports whether an error log entry about a redo logging switch may lie after
// the base. An entry counts as before the base only when both its time and, for a "disabled"
// entry, the LSN it names say so: a clock stepped back cannot hide a switch.
func switchSinceBase(at int64, code, data string, base *sourceState) bool {
	if at >= base.RedoLoggingOnAt {
		return true
	}
	if code != erRedoLogDisabled {
		return false
	}
	m := disabledLSN.FindStringSubmatch(data)
	if m == nil {
		return true
	}
	lsn, err := strconv.ParseUint(m[1], 10, 64)
	return err != nil || lsn >= base.EndLSN
}

// errorLogSettingsReason says why the error log settings could keep a redo logging switch out
// of performance_schema.error_log, or "". Only the current settings can be read: a setting
// changed and changed back between two backups is not seen.
func errorLogSettingsReason(ctx context.Context, q querier) (string, error) {
	var verbosity int
	var suppressed, services string
	err := q.QueryRowContext(ctx, "SELECT @@log_error_verbosity, @@log_error_suppression_list, @@log_error_services").Scan(&verbosity, &suppressed, &services)
	if err != nil {
		return "", fmt.Errorf("reading the error log settings: %w", err)
	}
	const hidden = "so performance_schema.error_log may miss a switch of redo logging since the base; "
	if verbosity < 2 {
		return fmt.Sprintf("log_error_verbosity is %d, which drops warnings, %s set it to 2 or more so incrementals can prove redo logging stayed on", verbosity, hidden), nil
	}
	if c := suppressedSwitch(suppressed); c != "" {
		return fmt.Sprintf("log_error_suppression_list suppresses %s, %s remove it from the list", c, hidden), nil
	}
	if !strings.Contains(services, "log_sink_internal") || strings.Contains(services, "log_filter_dragnet") {
		return fmt.Sprintf("log_error_services is %q (this plugin relies on log_sink_internal feeding the table and no dragnet filter rules), %s keep log_filter_internal; log_sink_internal", services, hidden), nil
	}
	return "", nil
}

// suppressedSwitch returns the redo logging switch code that a log_error_suppression_list value
// suppresses, or "". A code is taken in any of the forms "MY-014088", "014088" and "14088".
func suppressedSwitch(list string) string {
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "MY-"))
		if err != nil {
			continue
		}
		if c := fmt.Sprintf("MY-%06d", n); c == erRedoLogDisabled || c == erRedoLogEnabled {
			return c
		}
	}
	return ""
}

func errorLogError(err error) error {
	if isAccessDenied(err) {
		return shared.Precondition("the backup user cannot read performance_schema.error_log (needed to prove redo logging stayed on since the base); as an administrator run: GRANT SELECT ON performance_schema.error_log TO the backup user")
	}
	return fmt.Errorf("reading performance_schema.error_log: %w", err)
}

func microsString(us sql.NullInt64) string {
	if !us.Valid {
		return "nothing (it is empty)"
	}
	if us.Int64 == math.MaxInt64 {
		return "an unreadable time"
	}
	return time.UnixMicro(us.Int64).UTC().Format("2006-01-02 15:04:05.000000 UTC")
}
