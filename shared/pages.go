package shared

import (
	"context"
	"errors"
	"fmt"
)

// PageChecker is an optional capability of a Source: checking stored pages the way the
// database checks them on read (InnoDB's page checksums, for the MySQL source). A host uses it
// to verify pages it stored (host-example's check --read-data) without knowing the database's
// page format. Find it with a type assertion on the Source; the gRPC client always has it and
// returns ErrUnsupported when the plugin does not serve it (gRPC Unimplemented).
type PageChecker interface {
	// CheckPages checks every page of req and reports those that fail. A request that is
	// not well-formed (see CheckPagesRequest) is an error wrapping ErrInvalidConfig; a source
	// that cannot check pages returns ErrUnsupported.
	CheckPages(ctx context.Context, req *CheckPagesRequest) (*CheckPagesResult, error)
}

// ErrUnsupported: the source does not offer an optional capability. The host goes on without
// it and says what was not done.
var ErrUnsupported = errors.New("not supported by this source")

// CheckPagesRequest is a batch of pages of one physical size, as a PageBatch of a Tablespace
// with that PageSize and ZipSize would carry them.
type CheckPagesRequest struct {
	// PageSize is the physical size of every page: the Tablespace's PageSize (its ZipSize for a
	// compressed file).
	PageSize uint32
	// Compressed says the pages are of a ROW_FORMAT=COMPRESSED file (Tablespace.ZipSize != 0).
	Compressed bool
	// Pages are whole pages back to back, at most MaxPayloadBytes.
	Pages []byte
}

// CheckPagesResult lists the pages of the request that failed, in request order; an empty
// list means every page passed.
type CheckPagesResult struct {
	Failures []PageFailure
}

// PageFailure is one page that failed: its position in the request (0-based) and why.
type PageFailure struct {
	Index  uint32
	Reason string
}

// Validate checks that req is well-formed: a page size of 1 KiB..64 KiB, a power of two,
// and whole pages, at most MaxPayloadBytes of them. Both adapters and implementations call it.
func (req *CheckPagesRequest) Validate() error {
	switch n := req.PageSize; {
	case n < 1<<10 || n > 64<<10 || n&(n-1) != 0:
		return InvalidConfig(fmt.Sprintf("CheckPages: page size %d is not a power of two from 1 KiB to 64 KiB", n))
	case len(req.Pages) > MaxPayloadBytes:
		return InvalidConfig(fmt.Sprintf("CheckPages: %d bytes of pages, over the %d-byte limit (MaxPayloadBytes)", len(req.Pages), MaxPayloadBytes))
	case len(req.Pages)%int(req.PageSize) != 0:
		return InvalidConfig(fmt.Sprintf("CheckPages: %d bytes are not a whole number of %d-byte pages", len(req.Pages), req.PageSize))
	}
	return nil
}
