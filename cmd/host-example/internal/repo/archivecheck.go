package repo

import "fmt"

// checkArchive checks every source's archive: each record file's checksum, the records'
// chain by the shared contiguity rule (a hole in the sequence, a record that does not
// continue the one before), every blob a record names in the index and, with read-data,
// undamaged, and the segment read back whole against its SHA-256 and its last transaction's
// digest. Its blobs count as referenced.
func (c *checker) checkArchive() error {
	sources, err := c.l.ArchiveSources()
	if err != nil {
		return err
	}
	for _, src := range sources {
		recs, bad, err := c.l.ArchiveRecords(c.ctx, src)
		if err != nil {
			return err
		}
		c.report.ArchiveRecords += len(recs) + len(bad)
		for _, b := range bad {
			c.errorf("%v", b)
		}
		_, problems := ArchiveChains(recs)
		for _, p := range problems {
			c.errorf("%v", p)
		}
		for _, r := range recs {
			c.checkArchiveRecord(r)
		}
	}
	return nil
}

func (c *checker) checkArchiveRecord(r *ArchiveRecord) {
	damaged := false
	for _, id := range append([]ID{r.FormatDescription}, r.Data...) {
		c.ref(id, refData)
		if reason, bad := c.damage(id); bad {
			c.errorf("archive record %s #%d (%s [%d, %d)) is DAMAGED: %s", r.Source, r.Seq, r.File, r.Start, r.End, reason)
			damaged = true
		}
	}
	if damaged || !c.report.ReadData {
		return
	}
	if _, err := c.l.ReadArchiveSegment(r); err != nil {
		c.errorf("%v", fmt.Errorf("archive record is DAMAGED: %w", err))
	}
}
