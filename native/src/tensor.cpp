#include <torch/torch.h>

#include "common.h"
