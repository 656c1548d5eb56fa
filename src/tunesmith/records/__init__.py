"""Records: the one `Example` type (a conversation, or a preference pair) and every file format that reads
into and writes out of it. The bottom of the data flow: nothing here imports the rest of tunesmith but
`config`, `errors` and `io`."""
