using Microsoft.VisualStudio.TestTools.UnitTesting;

// Classes run in parallel; tests that measure resident memory or process-wide settings opt out.
[assembly: Parallelize(Workers = 2, Scope = ExecutionScope.ClassLevel)]
