"""Tables and figures of the study, each validated against spec/18 and spec/19 before it is written."""
