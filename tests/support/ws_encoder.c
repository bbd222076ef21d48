typedef int wsdbg_wip_;
