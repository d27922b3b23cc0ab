-- A step may have the type `unknown`: oVirt's StepEnum has it, and oVirt's Ansible module (`ovirt_job`)
-- adds every step with it. The constraint is added unvalidated, then validated, so that existing rows
-- are checked without holding off writers for the length of the scan.
alter table step drop constraint step_step_type_check;
alter table step add constraint step_step_type_check
    check (step_type in ('validating', 'executing', 'finalizing', 'unknown')) not valid;
alter table step validate constraint step_step_type_check;
