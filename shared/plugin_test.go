package shared_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/pagetrack/pagetrack/shared"
)

// helperEnv makes the test binary serve helperSource as a plugin instead of running tests, so
// the full handshake can be tested against a real process.
const helperEnv = "PAGETRACK_TEST_HELPER_PLUGIN"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		logger := hclog.New(&hclog.LoggerOptions{Name: "helper", Output: os.Stderr, JSONFormat: true})
		shared.Serve(helperSource(), logger)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperSource is what the helper process serves: the fixture stream followed by a record of
// the largest payload allowed, and a restore that counts.
func helperSource() shared.Source {
	return &fake{
		validate: func(_ context.Context, cfg shared.Config) error { return testSchema().Validate(cfg) },
		backup: func(_ context.Context, req *shared.BackupRequest) (shared.RecordStream, error) {
			if req.Config.String("label", "") == "block" {
				return streamFunc(func() (*shared.Record, error) { select {} }), nil
			}
			recs := allRecords()
			big := &shared.Record{Pages: &shared.PageBatch{FileIndex: 7, FirstPage: 99, Data: make([]byte, shared.MaxPayloadBytes)}}
			return sliceStream(append(recs[:len(recs)-1:len(recs)-1], big, recs[len(recs)-1])), nil
		},
		restore: func(_ context.Context, _ *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
			recs, err := readAll(records)
			return &shared.RestoreResult{Files: len(recs)}, err
		},
	}
}

func TestHandshakeWithPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a plugin process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.ClientPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  shared.GRPCDialOptions(),
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "host", Output: io.Discard}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	if v := client.NegotiatedVersion(); v != shared.ProtocolVersion {
		t.Errorf("negotiated protocol %d, want %d", v, shared.ProtocolVersion)
	}
	raw, err := rpc.Dispense(shared.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	src := raw.(shared.Source)
	ctx := context.Background()

	if err := src.ValidateConfig(ctx, shared.Config{"bogus": "x"}); !errors.Is(err, shared.ErrInvalidConfig) || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("ValidateConfig with an unknown attribute: %v", err)
	}
	s, err := src.Backup(ctx, &shared.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(allRecords()) + 1; len(recs) != n || len(recs[n-2].Pages.Data) != shared.MaxPayloadBytes {
		t.Fatalf("got %d records, want %d ending with a payload of MaxPayloadBytes", len(recs), n)
	}
	res, err := src.Restore(ctx, &shared.RestoreRequest{TargetDir: "/x"}, sliceStream(recs))
	if err != nil || res.Files != len(recs) {
		t.Fatalf("Restore = %+v, %v", res, err)
	}

	// The plugin process dies in the middle of a backup (before its first record: Backup
	// itself waits for that).
	go func() {
		time.Sleep(200 * time.Millisecond)
		client.Kill()
	}()
	s, err = src.Backup(ctx, &shared.BackupRequest{Config: shared.Config{"label": "block"}})
	if err == nil {
		_, err = s.Recv()
	}
	if !errors.Is(err, shared.ErrPluginShutdown) {
		t.Errorf("Recv while the plugin is killed = %v, want ErrPluginShutdown", err)
	}
	if _, err := src.Schema(ctx); !errors.Is(err, shared.ErrPluginShutdown) {
		t.Errorf("Schema after the plugin exited = %v, want ErrPluginShutdown", err)
	}
}

func TestShutdown(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, l link) {
		t.Run("ServerStopped", func(t *testing.T) {
			c := connect(t, l, &fake{validate: func(context.Context, shared.Config) error { return nil }})
			if err := c.src.ValidateConfig(ctx, nil); err != nil {
				t.Fatal(err)
			}
			c.server.Stop()
			if _, err := c.src.Schema(ctx); !errors.Is(err, shared.ErrPluginShutdown) {
				t.Errorf("Schema after the server stopped = %v, want ErrPluginShutdown", err)
			}
			if err := c.src.ValidateConfig(ctx, nil); !errors.Is(err, shared.ErrPluginShutdown) {
				t.Errorf("ValidateConfig after the server stopped = %v, want ErrPluginShutdown", err)
			}
		})

		t.Run("ConnectionClosed", func(t *testing.T) {
			c := connect(t, l, &fake{})
			// The gRPC connection only: GRPCClient.Close would also stop the server from its own
			// goroutine, racing with the cleanup's Stop inside go-plugin.
			_ = c.client.Conn.Close()
			if _, err := c.src.Schema(ctx); !errors.Is(err, shared.ErrPluginShutdown) {
				t.Errorf("Schema after the connection closed = %v, want ErrPluginShutdown", err)
			}
			if _, err := c.src.Restore(ctx, &shared.RestoreRequest{}, sliceStream(allRecords())); !errors.Is(err, shared.ErrPluginShutdown) {
				t.Errorf("Restore after the connection closed = %v, want ErrPluginShutdown", err)
			}
		})

		t.Run("StoppedMidBackup", func(t *testing.T) {
			c := connect(t, l, &fake{backup: func(ctx context.Context, _ *shared.BackupRequest) (shared.RecordStream, error) {
				first := true
				return streamFunc(func() (*shared.Record, error) {
					if first {
						first = false
						return allRecords()[0], nil
					}
					<-ctx.Done()
					return nil, ctx.Err()
				}), nil
			}})
			s, err := c.src.Backup(ctx, &shared.BackupRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				t.Fatal(err)
			}
			stopped := make(chan struct{})
			go func() {
				c.server.Stop()
				close(stopped)
			}()
			if _, err := s.Recv(); !errors.Is(err, shared.ErrPluginShutdown) {
				t.Errorf("Recv when the server stops mid-backup = %v, want ErrPluginShutdown", err)
			}
			<-stopped
		})

		t.Run("PluginExited", func(t *testing.T) {
			// go-plugin cancels the context it hands to GRPCClient when the plugin process
			// exits; a call in flight then ends with ErrPluginShutdown, as do later ones.
			started := make(chan struct{})
			c := connect(t, l, &fake{backup: func(ctx context.Context, _ *shared.BackupRequest) (shared.RecordStream, error) {
				return streamFunc(func() (*shared.Record, error) {
					close(started)
					<-ctx.Done()
					return nil, ctx.Err()
				}), nil
			}})
			doneCtx, exited := context.WithCancel(context.Background())
			raw, err := (&shared.SourcePlugin{}).GRPCClient(doneCtx, nil, c.client.Conn)
			if err != nil {
				t.Fatal(err)
			}
			src := raw.(shared.Source)
			go func() {
				<-started
				exited()
			}()
			if _, err := src.Backup(ctx, &shared.BackupRequest{}); !errors.Is(err, shared.ErrPluginShutdown) {
				t.Errorf("Backup when the plugin exits = %v, want ErrPluginShutdown", err)
			}
			if _, err := src.Schema(ctx); !errors.Is(err, shared.ErrPluginShutdown) {
				t.Errorf("Schema after the plugin exited = %v, want ErrPluginShutdown", err)
			}
		})
	})
}

func TestPluginSets(t *testing.T) {
	impl := &fake{}
	served, ok := shared.VersionedPlugins(impl)[shared.ProtocolVersion][shared.PluginName].(*shared.SourcePlugin)
	if !ok || served.Impl != impl {
		t.Errorf("VersionedPlugins does not serve impl under %q, version %d", shared.PluginName, shared.ProtocolVersion)
	}
	if _, ok := shared.ClientPlugins()[shared.ProtocolVersion][shared.PluginName].(*shared.SourcePlugin); !ok {
		t.Errorf("ClientPlugins has no %q at version %d", shared.PluginName, shared.ProtocolVersion)
	}
	if shared.Handshake.ProtocolVersion != shared.ProtocolVersion || shared.Handshake.MagicCookieKey != "PAGETRACK_PLUGIN" || shared.Handshake.MagicCookieValue == "" {
		t.Errorf("Handshake = %+v", shared.Handshake)
	}
}
