package mysqlsrc

import (
	"context"
	"fmt"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

var _ shared.PageChecker = (*Source)(nil)

// CheckPages checks stored pages as InnoDB checks them on read (innodb.ValidatePage): the
// host's check --read-data asks for it, so the host needs nothing of InnoDB's page format. It
// reads no server and needs no configuration.
func (s *Source) CheckPages(ctx context.Context, req *shared.CheckPagesRequest) (*shared.CheckPagesResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	size := int(req.PageSize)
	// A length InnoDB has no such pages of is the request's fault, not every page's.
	if err := innodb.ValidatePage(make([]byte, size), req.Compressed); err != nil {
		return nil, shared.InvalidConfig(fmt.Sprintf("CheckPages: %v", err))
	}
	res := &shared.CheckPagesResult{}
	for i := 0; i*size < len(req.Pages); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := innodb.ValidatePage(req.Pages[i*size:(i+1)*size], req.Compressed); err != nil {
			res.Failures = append(res.Failures, shared.PageFailure{Index: uint32(i), Reason: err.Error()})
		}
	}
	return res, nil
}
