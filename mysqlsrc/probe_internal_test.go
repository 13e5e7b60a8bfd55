package mysqlsrc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/shared"
)

// TestEncryptionRefusal: what the probe found encrypted is named with its fix, as a
// precondition (refused before the lock), never as damage. (The servers here have no keyring,
// so no test server can hold an encrypted tablespace: the query runs in every backup and
// finds none; the message is checked here.)
func TestEncryptionRefusal(t *testing.T) {
	if err := encryptionRefusal(nil, false, false); err != nil {
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
		want       []string
	}{
		{"table", []string{"shop/cards"}, false, false, []string{"encrypted tablespace(s) shop/cards", "ENCRYPTION='N'", "nothing was locked"}},
		{"many", many, false, false, []string{"db/t00", "db/t09", "and 2 more"}},
		{"redo", nil, true, false, []string{"innodb_redo_log_encrypt=ON", "SET GLOBAL innodb_redo_log_encrypt=OFF"}},
		{"all", []string{"mysql"}, true, true, []string{"tablespace(s) mysql", "redo log", "undo logs", "innodb_undo_log_encrypt=OFF"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := encryptionRefusal(tc.spaces, tc.redo, tc.undo)
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
