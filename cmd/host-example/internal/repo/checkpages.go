package repo

import (
	"errors"
	"fmt"

	"github.com/pagetrack/pagetrack/shared"
)

// pageCheck sends the page blobs check --read-data decodes to the source's page check
// (shared.PageChecker) in batches of one physical page size and kind, each at most
// shared.MaxPayloadBytes: the repository knows which blobs are pages, the source knows what a
// good page is.
type pageCheck struct {
	c       *checker
	pages   shared.PageChecker // nil once the source declined
	batches map[pageKind]*pageBatch
}

type pageKind struct {
	size int
	zip  bool
}

// pageBatch is one CheckPages request being filled: the pages and, per page, its blob's
// index entry and where it is stored (for the damage report).
type pageBatch struct {
	data    []byte
	entries []int32
	where   []string
}

func newPageCheck(c *checker, pages shared.PageChecker) *pageCheck {
	p := &pageCheck{c: c, pages: pages, batches: map[pageKind]*pageBatch{}}
	if pages == nil {
		c.report.PagesNotChecked = "no source plugin to check pages with"
	}
	return p
}

// add queues the decoded page blob of index entry e; where says where it is stored.
func (p *pageCheck) add(e int32, zip bool, data []byte, where string) error {
	if p.pages == nil {
		return nil
	}
	k := pageKind{len(data), zip}
	if req := (shared.CheckPagesRequest{PageSize: uint32(len(data)), Compressed: zip}); req.Validate() != nil {
		p.c.damaged[e] = fmt.Sprintf("%s decodes to %d bytes, not a page size", where, len(data))
		return nil
	}
	b := p.batches[k]
	if b == nil {
		b = &pageBatch{}
		p.batches[k] = b
	}
	if len(b.data)+len(data) > shared.MaxPayloadBytes {
		if err := p.send(k, b); err != nil {
			return err
		}
	}
	b.data = append(b.data, data...)
	b.entries = append(b.entries, e)
	b.where = append(b.where, where)
	return nil
}

// flush checks every queued page.
func (p *pageCheck) flush() error {
	for k, b := range p.batches {
		if err := p.send(k, b); err != nil {
			return err
		}
	}
	return nil
}

func (p *pageCheck) send(k pageKind, b *pageBatch) error {
	defer func() { b.data, b.entries, b.where = b.data[:0], b.entries[:0], b.where[:0] }()
	if p.pages == nil || len(b.entries) == 0 {
		return nil
	}
	res, err := p.pages.CheckPages(p.c.ctx, &shared.CheckPagesRequest{PageSize: uint32(k.size), Compressed: k.zip, Pages: b.data})
	if errors.Is(err, shared.ErrUnsupported) {
		p.c.report.PagesNotChecked = err.Error()
		p.pages = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking pages with the source plugin: %w", err)
	}
	p.c.report.PagesChecked += uint64(len(b.entries))
	for _, f := range res.Failures {
		e := b.entries[f.Index]
		p.c.damaged[e] = fmt.Sprintf("%s decodes but fails the source's page check: %s", b.where[f.Index], f.Reason)
	}
	return nil
}
