package mysqlsrc

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
	"time"
)

// The error log file as the proof that redo logging stayed on across a server restart. A
// restart empties performance_schema.error_log, and the redo tracker's watch of the redo
// header's NO_LOGGING flag polls (bitmaps.go), so ALTER INSTANCE DISABLE INNODB REDO_LOG,
// writes and ENABLE between two polls, then a restart, would leave no trace in either. The
// server also writes every entry to the file @@log_error names (relative to the datadir;
// "stderr" means there is none), which a restart appends to. An incremental bridging a restart
// therefore also needs that file to be readable here, its first entry to be older than the
// base, and no switch entry since the base (errorLogEvidence.reason, the rule the ring uses
// too). Only the current file is read: after a rotation (FLUSH ERROR LOGS) its first entry is
// newer than the base, and there is no proof.

// errorLogLine is an entry line of the error log file as MySQL 9.7.4 writes it (doc.go):
// "<time> <thread> [<priority>] [<code>] [<subsystem>] <message>".
var errorLogLine = regexp.MustCompile(`^(\S+) +\d+ +\[[^\]]*\] +\[(MY-\d+)\] +\[[^\]]*\] +(.*)$`)

// errorLogFileReason says why the server's error log file does not prove that redo logging
// stayed on since the base, or "". q holds the backup lock, so no switch can happen while the
// file is read.
func (b *backup) errorLogFileReason(ctx context.Context, q querier, base *sourceState) (string, error) {
	var logError string
	if err := q.QueryRowContext(ctx, "SELECT @@log_error").Scan(&logError); err != nil {
		return "", fmt.Errorf("reading @@log_error: %w", err)
	}
	if logError == "" || strings.EqualFold(logError, "stderr") {
		return fmt.Sprintf("the server writes its error log to stderr (log_error = %q), so no error log file can show that redo logging stayed on across the restart; set log_error to a file", logError), nil
	}
	path := hostPath(logError, b.info.datadir, b.o.datadir)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("the server's error log file %s cannot be read here (%v), so it cannot show that redo logging stayed on across the restart; let the backup read it", path, err), nil
	}
	defer f.Close()
	ev, err := readErrorLogFile(f)
	if err != nil {
		return fmt.Sprintf("the server's error log file %s cannot be read here (%v), so it cannot show that redo logging stayed on across the restart; let the backup read it", path, err), nil
	}
	ev.source = "the error log file " + path
	return ev.reason(base, true), nil
}

// readErrorLogFile reads an error log file: the time of its first entry and its redo logging
// switch entries. A line that names a switch code but does not parse as an entry counts as a
// switch at an unknown time, which cannot be dismissed by its time.
func readErrorLogFile(r io.Reader) (errorLogEvidence, error) {
	var ev errorLogEvidence
	ev.lostBy = "the file was rotated, truncated or replaced since"
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			ev.add(strings.TrimRight(line, "\r\n"))
		}
		if errors.Is(err, io.EOF) {
			return ev, nil
		}
		if err != nil {
			return ev, err
		}
	}
}

// add takes one line of the file into ev.
func (ev *errorLogEvidence) add(line string) {
	m := errorLogLine.FindStringSubmatch(line)
	var at time.Time
	var err error
	if m != nil {
		at, err = time.Parse(time.RFC3339Nano, m[1])
	}
	if m == nil || err != nil {
		if strings.Contains(line, erRedoLogDisabled) || strings.Contains(line, erRedoLogEnabled) {
			ev.switches = append(ev.switches, errorLogEntry{at: math.MaxInt64, code: erRedoLogDisabled, data: line})
		}
		return
	}
	if !ev.oldest.Valid {
		ev.oldest = sql.NullInt64{Int64: at.UnixMicro(), Valid: true}
	}
	if m[2] == erRedoLogDisabled || m[2] == erRedoLogEnabled {
		ev.switches = append(ev.switches, errorLogEntry{at: at.UnixMicro(), code: m[2], data: m[3]})
	}
}
