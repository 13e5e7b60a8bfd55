package mysqlsrc

import (
	"context"
	"errors"
	"fmt"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

var _ shared.PageChecker = (*Source)(nil)

// CheckPages checks stored pages as InnoDB checks them on read (innodb.ValidatePage): the
// host's check --read-data asks for it, so the host needs nothing of InnoDB's page format. It
// reads no server and needs no configuration. Encrypted pages cannot be checked without the
// keyring, which a check is not given: they are left out (and counted in a warning).
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
	encrypted := 0
	for i := 0; i*size < len(req.Pages); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := innodb.ValidatePage(req.Pages[i*size:(i+1)*size], req.Compressed)
		if errors.Is(err, innodb.ErrEncryptedPage) {
			encrypted++ // checkable only with the keyring; the backup checked it decrypted
			continue
		}
		if err != nil {
			res.Failures = append(res.Failures, shared.PageFailure{Index: uint32(i), Reason: err.Error()})
		}
	}
	if encrypted > 0 {
		s.log.Warn("encrypted pages are not checked without the keyring (the backup checked them decrypted; their storage is checked by SHA-256)", "pages", encrypted)
	}
	return res, nil
}
