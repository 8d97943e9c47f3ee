-- MappingSaved about no customer (a "don't import" row never linked) is keyed qb:<realm>:<qb id>.
-- Its sequence came out 0 every time; drawn from one sequence it increases for every subject.
CREATE SEQUENCE mapping_event_seq START 1;
