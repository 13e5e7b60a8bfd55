package shared_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagetrack/pagetrack/shared"
	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

func TestRoundTrip(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		ctx := context.Background()
		var (
			mu          sync.Mutex
			gotCfg      shared.Config
			gotBackup   *shared.BackupRequest
			gotRestore  *shared.RestoreRequest
			gotRecords  []*shared.Record
			wantResult  = &shared.RestoreResult{Files: 3, Pages: 2, Bytes: 17000, Verified: true, TablesChecked: 12, RecoveredTo: 1240000, ServerOptions: []string{"innodb_undo_directory=/r/undo", "log_bin=/r/binlog"}, OptionFile: "/r/pagetrack-restore.cnf"}
			cfgWithNull = shared.Config{"label": nil, "parallel": int64(-3), "verify": false, "dsn": ""}
		)
		c := connect(t, l, &fake{
			validate: func(_ context.Context, cfg shared.Config) error {
				mu.Lock()
				defer mu.Unlock()
				gotCfg = cfg
				return nil
			},
			backup: func(_ context.Context, req *shared.BackupRequest) (shared.RecordStream, error) {
				gotBackup = req
				return sliceStream(allRecords()), nil
			},
			restore: func(_ context.Context, req *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
				gotRestore = req
				var err error
				gotRecords, err = readAll(records)
				if err != nil {
					return nil, err
				}
				return wantResult, nil
			},
		})

		t.Run("Schema", func(t *testing.T) {
			got, err := c.src.Schema(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := testSchema(); !reflect.DeepEqual(got, want) {
				t.Errorf("Schema:\n got %+v\nwant %+v", got, want)
			}
		})

		t.Run("ValidateConfig", func(t *testing.T) {
			for _, cfg := range []shared.Config{testConfig(), cfgWithNull, {}} {
				if err := c.src.ValidateConfig(ctx, cfg); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gotCfg, cfg) {
					t.Errorf("plugin got config %#v, host sent %#v", gotCfg, cfg)
				}
			}
			if err := c.src.ValidateConfig(ctx, nil); err != nil || gotCfg != nil {
				t.Errorf("nil config arrived as %#v (err %v)", gotCfg, err)
			}
		})

		t.Run("Backup", func(t *testing.T) {
			s, err := c.src.Backup(ctx, &shared.BackupRequest{Config: testConfig()})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotBackup.Config, testConfig()) {
				t.Errorf("plugin got backup config %#v", gotBackup.Config)
			}
			compareRecords(t, got, normalized(allRecords()))
			checkDigest(t, got)
			if w := shared.LastWire(c.src); w != l.wantWire(false) {
				t.Errorf("the backup went over the %s wire, want %s", w, l.wantWire(false))
			}
		})

		t.Run("Restore", func(t *testing.T) {
			req := &shared.RestoreRequest{TargetDir: "/var/lib/restore/datadir", Verify: true, Relocations: []shared.Relocation{{From: "/srv/undo", To: "/r/undo"}}, KeyringFile: "/etc/keyring/component_keyring_file"}
			res, err := c.src.Restore(ctx, req, sliceStream(allRecords()))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotRestore, req) {
				t.Errorf("plugin got restore request %+v, want %+v", gotRestore, req)
			}
			compareRecords(t, gotRecords, normalized(allRecords()))
			checkDigest(t, gotRecords)
			if !reflect.DeepEqual(res, wantResult) {
				t.Errorf("RestoreResult: got %+v, want %+v", res, wantResult)
			}
			if w := shared.LastWire(c.src); w != l.wantWire(true) {
				t.Errorf("the restore went over the %s wire, want %s", w, l.wantWire(true))
			}
		})

		t.Run("ZeroValues", func(t *testing.T) {
			// Zero times and empty payloads survive: an empty file's one chunk, an unset time.
			recs := []*shared.Record{
				{Header: &shared.Header{}},
				{File: &shared.FileChunk{Path: "empty.CSV"}},
				{Trailer: &shared.Trailer{}},
			}
			gotBackup = nil
			c := connect(t, l, &fake{backup: func(context.Context, *shared.BackupRequest) (shared.RecordStream, error) {
				return sliceStream(recs), nil
			}})
			s, err := c.src.Backup(ctx, &shared.BackupRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || !got[0].Header.StartedAt.IsZero() || !got[2].Trailer.FinishedAt.IsZero() ||
				got[1].File.Path != "empty.CSV" || len(got[1].File.Data) != 0 {
				t.Errorf("zero values did not survive: %+v %+v %+v", got[0].Header, got[1].File, got[2].Trailer)
			}
		})
	})
}

func compareRecords(t *testing.T, got, want []*shared.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := setField(t, got[i]), setField(t, want[i])
		if g.Type() != w.Type() {
			t.Errorf("record %d: got a %s, want a %s", i, g.Type().Name(), w.Type().Name())
			continue
		}
		for j := 0; j < w.NumField(); j++ {
			if gf, wf := g.Field(j).Interface(), w.Field(j).Interface(); !reflect.DeepEqual(gf, wf) {
				t.Errorf("record %d: %s.%s = %v, want %v", i, w.Type().Name(), w.Type().Field(j).Name, gf, wf)
			}
		}
	}
}

func checkDigest(t *testing.T, recs []*shared.Record) {
	t.Helper()
	d := shared.NewDigester()
	for _, r := range recs[:len(recs)-1] {
		d.Add(r)
	}
	if err := d.Check(recs[len(recs)-1].Trailer); err != nil {
		t.Errorf("digest over the received records: %v", err)
	}
}

func TestBackupStreamsLargeBackupInBoundedRecords(t *testing.T) {
	const total = 50 << 20
	both(t, func(t *testing.T, l link) {
		sent := sha256.New()
		c := connect(t, l, &fake{backup: func(context.Context, *shared.BackupRequest) (shared.RecordStream, error) {
			rnd := rand.New(rand.NewSource(1))
			left, page := total, uint64(0)
			return streamFunc(func() (*shared.Record, error) {
				if left == 0 {
					return nil, io.EOF
				}
				n := min(left, shared.MaxPayloadBytes)
				data := make([]byte, n) // fresh: a record is not modified once returned
				rnd.Read(data)
				sent.Write(data)
				left -= n
				r := &shared.Record{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: page, Data: data}}
				page += uint64(n / 16384)
				return r, nil
			}), nil
		}})

		s, err := c.src.Backup(context.Background(), &shared.BackupRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got, records := sha256.New(), 0
		bytesGot := 0
		for {
			r, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %d records: %v", records, err)
			}
			if len(r.Pages.Data) > shared.MaxPayloadBytes {
				t.Fatalf("record %d carries %d bytes", records, len(r.Pages.Data))
			}
			records++
			bytesGot += len(r.Pages.Data)
			got.Write(r.Pages.Data)
		}
		if bytesGot != total || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
			t.Errorf("received %d bytes in %d records, sent %d: contents equal = %v", bytesGot, records, total, bytes.Equal(got.Sum(nil), sent.Sum(nil)))
		}
		if want := (total + shared.MaxPayloadBytes - 1) / shared.MaxPayloadBytes; records != want {
			t.Errorf("received %d records, want %d", records, want)
		}
	})
}

func TestRecvReturnsBareEOF(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		c := connect(t, l, &fake{backup: func(context.Context, *shared.BackupRequest) (shared.RecordStream, error) {
			return sliceStream(allRecords()[:1]), nil
		}})
		s, err := c.src.Backup(context.Background(), &shared.BackupRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := s.Recv(); err != nil || r.Header == nil {
			t.Fatalf("first Recv = %+v, %v; want the header", r, err)
		}
		for i := 0; i < 2; i++ {
			if r, err := s.Recv(); err != io.EOF || r != nil {
				t.Fatalf("Recv at end (%d) = %+v, %#v; want nil, io.EOF itself", i, r, err)
			}
		}

		// An empty stream: Backup succeeds, the first Recv is io.EOF.
		c = connect(t, l, &fake{backup: func(context.Context, *shared.BackupRequest) (shared.RecordStream, error) {
			return sliceStream(nil), nil
		}})
		s, err = c.src.Backup(context.Background(), &shared.BackupRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != io.EOF {
			t.Fatalf("Recv on an empty stream = %#v, want io.EOF", err)
		}
	})
}

// Every error kind keeps its kind and its message across the boundary, from every method.
func TestErrorMapping(t *testing.T) {
	kinds := []error{shared.ErrInvalidConfig, shared.ErrPrecondition, shared.ErrPluginShutdown, context.Canceled, context.DeadlineExceeded}
	cases := []struct {
		name string
		err  error
		code codes.Code
		is   error // nil: none of kinds
	}{
		{"invalid config", shared.InvalidConfig(`attribute "parallel" must be at least 1`), codes.InvalidArgument, shared.ErrInvalidConfig},
		{"wrapped invalid config", fmt.Errorf("checking dsn: %w", shared.InvalidConfig("dsn has no host")), codes.InvalidArgument, shared.ErrInvalidConfig},
		{"precondition", fmt.Errorf("probing server: %w", shared.Precondition("grant BACKUP_ADMIN to the backup user")), codes.FailedPrecondition, shared.ErrPrecondition},
		{"no trailer", fmt.Errorf("restore: %w", shared.ErrNoTrailer), codes.DataLoss, shared.ErrNoTrailer},
		{"canceled", fmt.Errorf("reading pages: %w", context.Canceled), codes.Canceled, context.Canceled},
		{"deadline", fmt.Errorf("waiting for the backup lock: %w", context.DeadlineExceeded), codes.DeadlineExceeded, context.DeadlineExceeded},
		{"other", errors.New("disk on fire"), codes.Internal, nil},
	}
	both(t, func(t *testing.T, l link) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				header := allRecords()[:1]
				c := connect(t, l, &fake{
					schemaErr: tc.err,
					validate:  func(context.Context, shared.Config) error { return tc.err },
					backup: func(_ context.Context, req *shared.BackupRequest) (shared.RecordStream, error) {
						if req.Config.Bool("midstream", false) {
							return thenErr(header, tc.err), nil
						}
						return nil, tc.err
					},
					restore: func(context.Context, *shared.RestoreRequest, shared.RecordStream) (*shared.RestoreResult, error) {
						return nil, tc.err
					},
				})
				midstream := shared.Config{"midstream": true}

				// The host's side: errors.Is and the message.
				check := func(method string, err error) {
					t.Helper()
					if err == nil {
						t.Errorf("%s: no error", method)
						return
					}
					for _, k := range kinds {
						if want := k == tc.is; errors.Is(err, k) != want {
							t.Errorf("%s: errors.Is(%q, %v) = %v, want %v", method, err, k, !want, want)
						}
					}
					if err.Error() != tc.err.Error() {
						t.Errorf("%s: message %q, want %q", method, err, tc.err)
					}
				}
				_, err := c.src.Schema(ctx)
				check("Schema", err)
				check("ValidateConfig", c.src.ValidateConfig(ctx, shared.Config{}))
				_, err = c.src.Backup(ctx, &shared.BackupRequest{})
				check("Backup", err)
				s, err := c.src.Backup(ctx, &shared.BackupRequest{Config: midstream})
				if err != nil {
					t.Fatalf("Backup (mid-stream): %v", err)
				}
				_, err = readAll(s)
				check("Backup mid-stream Recv", err)
				_, err = c.src.Restore(ctx, &shared.RestoreRequest{TargetDir: "/x"}, sliceStream(allRecords()))
				check("Restore", err)

				// The wire: status codes.
				codeOf := func(method string, err error) {
					t.Helper()
					if got := status.Code(err); got != tc.code {
						t.Errorf("%s: status code %v (%v), want %v", method, got, err, tc.code)
					}
				}
				_, err = c.raw.Schema(ctx, &sourcev1.SchemaRequest{})
				codeOf("Schema", err)
				_, err = c.raw.ValidateConfig(ctx, &sourcev1.ValidateConfigRequest{})
				codeOf("ValidateConfig", err)
				bs, err := c.raw.Backup(ctx, &sourcev1.BackupRequest{})
				if err == nil {
					_, err = bs.Recv()
				}
				codeOf("Backup", err)
				bs, err = c.raw.Backup(ctx, &sourcev1.BackupRequest{Config: &sourcev1.Config{Values: map[string]*sourcev1.Value{
					"midstream": {Kind: &sourcev1.Value_BoolValue{BoolValue: true}},
				}}})
				if err == nil {
					if _, err = bs.Recv(); err == nil {
						_, err = bs.Recv()
					}
				}
				codeOf("Backup mid-stream", err)
				rs, err := c.raw.Restore(ctx)
				if err == nil {
					_ = rs.Send(&sourcev1.RestoreMessage{Message: &sourcev1.RestoreMessage_Request{Request: &sourcev1.RestoreRequest{TargetDir: "/x"}}})
					_, err = rs.CloseAndRecv()
				}
				codeOf("Restore", err)
			})
		}
	})
}

func TestCallerCancelReturnsContextError(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		c := connect(t, l, &fake{validate: func(ctx context.Context, _ shared.Config) error {
			<-ctx.Done()
			return ctx.Err()
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := c.src.ValidateConfig(ctx, nil); err != context.DeadlineExceeded {
			t.Errorf("ValidateConfig past the caller's deadline = %#v, want context.DeadlineExceeded", err)
		}
	})
}

func TestSecretsAreRedacted(t *testing.T) {
	cfg := testConfig()
	leak := fmt.Errorf("connecting with %s (password %s) for %s: access denied", cfg["dsn"], cfg["password"], cfg["label"])
	mustNotLeak := func(t *testing.T, what string, err error, labelRedacted bool) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		msg := err.Error()
		if strings.Contains(msg, testDSNPassword) || strings.Contains(msg, testPassword) {
			t.Errorf("%s: error leaks a secret: %q", what, msg)
		}
		if !strings.Contains(msg, "[redacted]") || !strings.Contains(msg, "access denied") {
			t.Errorf("%s: error %q should keep its text, secrets replaced by [redacted]", what, msg)
		}
		if got := !strings.Contains(msg, "nightly"); got != labelRedacted {
			t.Errorf("%s: non-secret value redacted = %v, want %v: %q", what, got, labelRedacted, msg)
		}
	}
	both(t, func(t *testing.T, l link) {
		for _, schemaFails := range []bool{false, true} {
			t.Run(fmt.Sprintf("schemaFails=%v", schemaFails), func(t *testing.T) {
				ctx := context.Background()
				f := &fake{
					validate: func(context.Context, shared.Config) error { return shared.InvalidConfig(leak.Error()) },
					backup: func(_ context.Context, req *shared.BackupRequest) (shared.RecordStream, error) {
						if req.Config.String("label", "") == "midstream" {
							return thenErr(allRecords()[:1], leak), nil
						}
						return nil, leak
					},
				}
				if schemaFails {
					// Without a schema every string value of the config is treated as secret.
					f.schemaErr = errors.New("schema unavailable")
				}
				c := connect(t, l, f)

				err := c.src.ValidateConfig(ctx, cfg)
				mustNotLeak(t, "ValidateConfig", err, schemaFails)
				if !errors.Is(err, shared.ErrInvalidConfig) {
					t.Errorf("redaction lost the kind: %v", err)
				}
				_, err = c.src.Backup(ctx, &shared.BackupRequest{Config: cfg})
				mustNotLeak(t, "Backup", err, schemaFails)

				mid := testConfig()
				mid["label"] = "midstream"
				s, err := c.src.Backup(ctx, &shared.BackupRequest{Config: mid})
				if err != nil {
					t.Fatal(err)
				}
				_, err = readAll(s)
				// "nightly" is not in this request's config: no reason to redact it.
				mustNotLeak(t, "Backup mid-stream", err, false)
			})
		}
	})
}

func TestOversizedRecordIsRefused(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		ctx := context.Background()
		huge := &shared.Record{Pages: &shared.PageBatch{FileIndex: 1, Data: make([]byte, shared.MaxRecordBytes)}}
		c := connect(t, l, &fake{
			backup: func(context.Context, *shared.BackupRequest) (shared.RecordStream, error) {
				return sliceStream([]*shared.Record{allRecords()[0], huge}), nil
			},
			restore: func(_ context.Context, _ *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
				_, err := readAll(records)
				return &shared.RestoreResult{}, err
			},
		})

		s, err := c.src.Backup(ctx, &shared.BackupRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(s)
		if len(got) != 1 || err == nil {
			t.Fatalf("got %d records and error %v; want the header, then an error", len(got), err)
		}
		for _, want := range []string{"record 2 (PageBatch)", "MaxRecordBytes", "MaxPayloadBytes"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}

		bs, err := c.raw.Backup(ctx, &sourcev1.BackupRequest{})
		if err == nil {
			if _, err = bs.Recv(); err == nil {
				_, err = bs.Recv()
			}
		}
		if status.Code(err) != codes.Internal {
			t.Errorf("oversized record: status %v, want Internal", err)
		}

		_, err = c.src.Restore(ctx, &shared.RestoreRequest{TargetDir: "/x"}, sliceStream([]*shared.Record{allRecords()[0], huge}))
		if err == nil || !strings.Contains(err.Error(), "MaxRecordBytes") {
			t.Errorf("Restore of an oversized record: %v; want an error naming MaxRecordBytes", err)
		}
	})
}

func TestMalformedRecordIsRefused(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		two := &shared.Record{Header: &shared.Header{}, Trailer: &shared.Trailer{}}
		c := connect(t, l, &fake{backup: func(context.Context, *shared.BackupRequest) (shared.RecordStream, error) {
			return sliceStream([]*shared.Record{{}}), nil
		}, restore: func(_ context.Context, _ *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
			_, err := shared.CheckStream(records)
			return nil, err
		}})
		_, err := c.src.Backup(context.Background(), &shared.BackupRequest{})
		if !errors.Is(err, shared.ErrBadStream) || !strings.Contains(err.Error(), "bad stream: record 1 (invalid record): a record has exactly one field set") {
			t.Errorf("empty record: %v; want the stream kernel's error", err)
		}
		_, err = c.src.Restore(context.Background(), &shared.RestoreRequest{}, sliceStream([]*shared.Record{two}))
		if !errors.Is(err, shared.ErrBadStream) || !strings.Contains(err.Error(), "exactly one field") {
			t.Errorf("record with two fields: %v; want the plugin's ErrBadStream", err)
		}
		err = c.src.ValidateConfig(context.Background(), shared.Config{"parallel": 4})
		if !errors.Is(err, shared.ErrInvalidConfig) || !strings.Contains(err.Error(), `"parallel"`) {
			t.Errorf("a Go int in the config: %v; want an invalid-config error naming the attribute", err)
		}
	})
}

// Cancelling the host's context stops the plugin's send loop, even for a RecordStream that
// never looks at its context.
func TestBackupCancelStopsServerLoop(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		var (
			produced atomic.Int64
			implCtx  = make(chan context.Context, 1)
		)
		c := connect(t, l, &fake{backup: func(ctx context.Context, _ *shared.BackupRequest) (shared.RecordStream, error) {
			implCtx <- ctx
			return streamFunc(func() (*shared.Record, error) {
				produced.Add(1)
				return &shared.Record{Progress: &shared.Progress{Phase: "forever"}}, nil
			}), nil
		}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s, err := c.src.Backup(ctx, &shared.BackupRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if _, err := s.Recv(); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		var rerr error
		for rerr == nil {
			_, rerr = s.Recv() // records already in flight may still arrive
		}
		if rerr != context.Canceled {
			t.Errorf("Recv after cancel = %#v, want context.Canceled", rerr)
		}
		select {
		case <-(<-implCtx).Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the implementation's context was not cancelled")
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			before := produced.Load()
			time.Sleep(100 * time.Millisecond)
			if produced.Load() == before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the server loop keeps reading records after the host cancelled")
			}
		}
	})
}

func TestRestoreStream(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		ctx := context.Background()

		t.Run("PluginRefusesBeforeReading", func(t *testing.T) {
			c := connect(t, l, &fake{restore: func(context.Context, *shared.RestoreRequest, shared.RecordStream) (*shared.RestoreResult, error) {
				return nil, shared.Precondition("target dir /x is not empty")
			}})
			_, err := c.src.Restore(ctx, &shared.RestoreRequest{TargetDir: "/x"}, endless())
			if !errors.Is(err, shared.ErrPrecondition) || err.Error() != "target dir /x is not empty" {
				t.Errorf("Restore = %v, want the plugin's precondition error", err)
			}
		})

		t.Run("PluginFinishesEarly", func(t *testing.T) {
			c := connect(t, l, &fake{restore: func(_ context.Context, _ *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
				_, err := records.Recv()
				return &shared.RestoreResult{Files: 1}, err
			}})
			res, err := c.src.Restore(ctx, &shared.RestoreRequest{TargetDir: "/x"}, endless())
			if err != nil || res.Files != 1 {
				t.Errorf("Restore = %+v, %v; want the plugin's result", res, err)
			}
		})

		t.Run("HostStreamFails", func(t *testing.T) {
			pluginSaw, reading := make(chan error, 1), make(chan struct{})
			c := connect(t, l, &fake{restore: func(_ context.Context, _ *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
				_, err := records.Recv()
				close(reading)
				if err == nil {
					_, err = readAll(records)
				}
				pluginSaw <- err
				return nil, err
			}})
			storageErr := errors.New("object store: read timed out")
			host := sliceStream(allRecords()[:3])
			failing := streamFunc(func() (*shared.Record, error) {
				if r, _ := host.Recv(); r != nil {
					return r, nil
				}
				<-reading // fail once the plugin is in Restore, not before the call reaches it
				return nil, storageErr
			})
			_, err := c.src.Restore(ctx, &shared.RestoreRequest{TargetDir: "/x"}, failing)
			if !errors.Is(err, storageErr) {
				t.Errorf("Restore = %v, want the host stream's error", err)
			}
			select {
			case err := <-pluginSaw:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("the plugin's RecordStream ended with %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the plugin's restore never saw the call end")
			}
		})

		t.Run("RawProtocolErrors", func(t *testing.T) {
			c := connect(t, l, &fake{restore: func(context.Context, *shared.RestoreRequest, shared.RecordStream) (*shared.RestoreResult, error) {
				return &shared.RestoreResult{}, nil
			}})
			rs, err := c.raw.Restore(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rs.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
				t.Errorf("Restore without a request: %v, want InvalidArgument", err)
			}
			rs, err = c.raw.Restore(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = rs.Send(&sourcev1.RestoreMessage{Message: &sourcev1.RestoreMessage_Record{Record: &sourcev1.Record{}}})
			if _, err := rs.CloseAndRecv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "RestoreRequest") {
				t.Errorf("Restore starting with a record: %v, want InvalidArgument", err)
			}
		})
	})
}

// endless yields page batches until the call ends.
func endless() shared.RecordStream {
	return streamFunc(func() (*shared.Record, error) {
		return &shared.Record{Pages: &shared.PageBatch{Data: make([]byte, 256<<10)}}, nil
	})
}
