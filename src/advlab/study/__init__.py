"""The study's orchestration, one module per family: what a stage asks for (run these
attacks on these models, train these jobs, score these signals) as library calls that
take params sections and arrays and return results. Stages only read params, call one
function here and write its outputs."""
