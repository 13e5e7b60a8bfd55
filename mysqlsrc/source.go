package mysqlsrc

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/shared"
)

// Source backs up and restores MySQL servers. It holds no connection between calls.
type Source struct {
	log hclog.Logger
}

var _ shared.Source = (*Source)(nil)

// New returns a Source that logs through logger.
func New(logger hclog.Logger) *Source {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Source{log: logger}
}

// Schema returns the configuration attributes a MySQL source accepts.
func (s *Source) Schema(context.Context) (*shared.Schema, error) {
	out := schema
	out.Attributes = append([]shared.Attribute(nil), schema.Attributes...)
	return &out, nil
}

// ValidateConfig checks cfg without contacting the server.
func (s *Source) ValidateConfig(_ context.Context, cfg shared.Config) error {
	_, err := parseOptions(cfg)
	return err
}

// Backup checks the server (version, privileges, datadir) and then streams a full backup.
// Errors found before any data is read are returned directly; later ones end the stream.
func (s *Source) Backup(ctx context.Context, req *shared.BackupRequest) (shared.RecordStream, error) {
	o, err := parseOptions(req.Config)
	if err != nil {
		return nil, err
	}
	db, info, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	if !info.component {
		s.log.Warn("component_mysqlbackup is not installed: incremental backups will have to read every page; to fix, run INSTALL COMPONENT 'file://component_mysqlbackup'")
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan *shared.Record, 2*o.parallelism)
	stream := &recordStream{ch: out, done: make(chan struct{}), cancel: cancel}
	b := &backup{src: s, o: o, db: db, info: info, out: out, digest: shared.NewDigester()}
	go func() {
		defer close(stream.done)
		defer cancel()
		defer db.Close()
		err := b.run(ctx, req)
		if err != nil {
			s.log.Error("backup failed", "error", err)
			stream.err = err
		}
		close(out)
	}()
	return stream, nil
}
