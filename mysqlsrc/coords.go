package mysqlsrc

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
)

// coordinates is one row of performance_schema.log_status: the redo LSN, the checkpoint, the
// binlog position and the GTID set, all consistent with each other (the row is read while
// commits are blocked).
type coordinates struct {
	LSN          uint64
	Checkpoint   uint64
	BinlogFile   string
	BinlogPos    uint64
	GTIDExecuted string
}

func readLogStatus(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (coordinates, error) {
	var local, engines string
	if err := q.QueryRowContext(ctx, "SELECT LOCAL, STORAGE_ENGINES FROM performance_schema.log_status").Scan(&local, &engines); err != nil {
		return coordinates{}, fmt.Errorf("reading performance_schema.log_status: %w", err)
	}
	return parseLogStatus(local, engines)
}

// parseLogStatus decodes the LOCAL and STORAGE_ENGINES JSON columns of log_status.
func parseLogStatus(local, engines string) (coordinates, error) {
	var l struct {
		GTIDExecuted string      `json:"gtid_executed"`
		BinlogFile   string      `json:"binary_log_file"`
		BinlogPos    json.Number `json:"binary_log_position"`
	}
	var e struct {
		InnoDB struct {
			LSN        json.Number `json:"LSN"`
			Checkpoint json.Number `json:"LSN_checkpoint"`
		} `json:"InnoDB"`
	}
	if err := json.Unmarshal([]byte(local), &l); err != nil {
		return coordinates{}, fmt.Errorf("log_status LOCAL %q: %w", local, err)
	}
	if err := json.Unmarshal([]byte(engines), &e); err != nil {
		return coordinates{}, fmt.Errorf("log_status STORAGE_ENGINES %q: %w", engines, err)
	}
	c := coordinates{BinlogFile: l.BinlogFile, GTIDExecuted: l.GTIDExecuted}
	var err error
	if c.LSN, err = parseUint(e.InnoDB.LSN); err != nil {
		return c, fmt.Errorf("log_status InnoDB.LSN: %w", err)
	}
	if c.Checkpoint, err = parseUint(e.InnoDB.Checkpoint); err != nil {
		return c, fmt.Errorf("log_status InnoDB.LSN_checkpoint: %w", err)
	}
	if l.BinlogPos != "" {
		if c.BinlogPos, err = parseUint(l.BinlogPos); err != nil {
			return c, fmt.Errorf("log_status binary_log_position: %w", err)
		}
	}
	return c, nil
}

func parseUint(n json.Number) (uint64, error) { return strconv.ParseUint(string(n), 10, 64) }

// backupLock holds LOCK INSTANCE FOR BACKUP on its own connection: the lock belongs to the
// session, so every statement that must run under it uses this connection.
type backupLock struct {
	conn *sql.Conn
}

func lockInstance(ctx context.Context, db *sql.DB, waitSeconds int64) (*backupLock, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", waitSeconds)); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "LOCK INSTANCE FOR BACKUP"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("LOCK INSTANCE FOR BACKUP (waited up to %d s behind running DDL; raise lock_wait_timeout or retry when the DDL is done): %w", waitSeconds, err)
	}
	return &backupLock{conn: conn}, nil
}

func (l *backupLock) logStatus(ctx context.Context) (coordinates, error) {
	return readLogStatus(ctx, l.conn)
}

// release unlocks and returns the connection. It uses its own context: the lock must be
// released even when the backup's context is cancelled.
func (l *backupLock) release() error {
	ctx, cancel := context.WithTimeout(context.Background(), timeoutUnlock)
	defer cancel()
	_, err := l.conn.ExecContext(ctx, "UNLOCK INSTANCE")
	l.conn.Close()
	return err
}
