package mysqlsrc_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

// CheckPages reports exactly the pages InnoDB would refuse, in process and through the
// plugin's gRPC adapters.
func TestCheckPages(t *testing.T) {
	good := func(size int, zip bool, seed byte) []byte {
		p := bytes.Repeat([]byte{seed, seed + 1, seed + 2}, size)[:size]
		if zip {
			innodb.SetZipPageChecksum(p)
		} else {
			innodb.SetPageChecksum(p)
		}
		return p
	}
	torn := good(16384, false, 7)
	torn[9000] ^= 0xff
	plain := bytes.Join([][]byte{good(16384, false, 1), torn, make([]byte, 16384), good(16384, false, 3)}, nil)
	badZip := good(8192, true, 5)
	badZip[100] ^= 1
	zipped := bytes.Join([][]byte{badZip, good(8192, true, 6)}, nil)

	client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		shared.PluginName: &shared.SourcePlugin{Impl: mysqlsrc.New(nil)},
	})
	t.Cleanup(func() { server.Stop(); client.Close() })
	raw, err := client.Dispense(shared.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	for name, pc := range map[string]shared.PageChecker{"in process": mysqlsrc.New(nil), "grpc": raw.(shared.PageChecker)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, tc := range []struct {
				req    *shared.CheckPagesRequest
				failed uint32
			}{
				{&shared.CheckPagesRequest{PageSize: 16384, Pages: plain}, 1},
				{&shared.CheckPagesRequest{PageSize: 8192, Compressed: true, Pages: zipped}, 0},
			} {
				res, err := pc.CheckPages(ctx, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Failures) != 1 || res.Failures[0].Index != tc.failed || !strings.Contains(res.Failures[0].Reason, "checksum") {
					t.Errorf("%d-byte pages: failures %+v, want page %d with a checksum reason", tc.req.PageSize, res.Failures, tc.failed)
				}
			}
			// Uncompressed pages of 1 KiB do not exist.
			if _, err := pc.CheckPages(ctx, &shared.CheckPagesRequest{PageSize: 1024, Pages: make([]byte, 2048)}); !errors.Is(err, shared.ErrInvalidConfig) {
				t.Errorf("1 KiB uncompressed pages: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestCheckPagesLeavesEncryptedPagesOut: an encrypted page cannot be checked without its key,
// and is neither a failure nor an error; an unencrypted bad page beside it still fails.
func TestCheckPagesLeavesEncryptedPagesOut(t *testing.T) {
	enc, err := os.ReadFile(filepath.Join("innodb", "testdata", "encrypted", "enc-index-v2.page"))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Repeat([]byte{9}, 16384)
	res, err := mysqlsrc.New(nil).CheckPages(context.Background(), &shared.CheckPagesRequest{PageSize: 16384, Pages: append(bytes.Clone(enc), bad...)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) != 1 || res.Failures[0].Index != 1 {
		t.Fatalf("failures %+v, want only page 1", res.Failures)
	}
}
