package mysqlsrc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/shared"
)

// TestEncryptionRefusal: what the probe found encrypted without a keyring_file is named with
// the attribute to set, as a precondition (refused before the lock), never as damage.
func TestEncryptionRefusal(t *testing.T) {
	if err := encryptionRefusal(nil, false, false, false); err != nil {
		t.Fatalf("nothing encrypted: %v", err)
	}
	many := make([]string, 12)
	for i := range many {
		many[i] = fmt.Sprintf("db/t%02d", i)
	}
	for _, tc := range []struct {
		name       string
		spaces     []string
		redo, undo bool
		binlog     bool
		want       []string
	}{
		{"table", []string{"shop/cards"}, false, false, false, []string{"encrypted tablespace(s) shop/cards", `sets no "keyring_file"`, "nothing was locked"}},
		{"many", many, false, false, false, []string{"db/t00", "db/t09", "and 2 more"}},
		{"redo", nil, true, false, false, []string{"innodb_redo_log_encrypt=ON", "attribute keyring_file"}},
		{"binlog", nil, false, false, true, []string{"binlog_encryption=ON", "attribute keyring_file"}},
		{"all", []string{"mysql"}, true, true, true, []string{"tablespace(s) mysql", "redo log", "undo logs", "binary logs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := encryptionRefusal(tc.spaces, tc.redo, tc.undo, tc.binlog)
			if !errors.Is(err, shared.ErrPrecondition) {
				t.Fatalf("error %v is not a precondition", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "damaged") {
				t.Errorf("error %q calls encryption damage", err)
			}
		})
	}
}
