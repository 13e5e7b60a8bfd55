package innodb

// Hooks for the external test package (real_test.go), which writes fuzz seeds taken from a real
// server into the corpus.
var (
	WritingSeeds  = writingSeeds
	WriteSeed     = writeSeed
	WritePageSeed = writePageSeed
)
